"""`phi3nb bench` and `python -m phi3nb.bench`: the options (add_arguments) and the whole run (run)."""

import json
import os
import time
from pathlib import Path

BACKENDS = ("optimum", "genai", "llama.cpp")
REFERENCE = "llama.cpp"  # every OpenVINO row's decode speed is also given as a ratio to this one's


def add_arguments(parser):
    parser.add_argument("--model-dir", default=None,
                        help="OpenVINO export folder to measure (default: the embedded SmolLM2-135M model)")
    parser.add_argument("--gguf", default=None,
                        help="GGUF of the same model for llama.cpp (default: the embedded model's, or a *.gguf "
                             "inside --model-dir; --full-size writes its own)")
    parser.add_argument("--runs", type=int, default=None,
                        help="rounds; each runs every backend once, a fresh process each, in rotated order "
                             "(default 3; --full-size: 2)")
    parser.add_argument("--new-tokens", type=int, default=None,
                        help="tokens decoded per run (default 128; --full-size: 32)")
    parser.add_argument("--chat-tokens", type=int, default=None,
                        help="tokens per reply in the 5-turn chat (default 24; --full-size: 16)")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--skip-slice", action="store_true", help="skip the Phi-3-mini slice (its exports and runs)")
    parser.add_argument("--skip-perplexity", action="store_true", help="skip the perplexity of the exports")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated subset of {', '.join(BACKENDS)}")
    parser.add_argument("--room", default=None, metavar="N[,N...]",
                        help="instead: N attendees chatting at once with the server at --url, e.g. 1,4,16")
    parser.add_argument("--url", default=None, help="with --room: the chat server on this machine, e.g. "
                                                    "http://127.0.0.1:8000/v3 (its key from $PHI3NB_API_KEY)")
    parser.add_argument("--room-turns", type=int, default=2, help="with --room: turns per attendee (default 2)")
    parser.add_argument("--work-dir", default=None,
                        help="where the slice and perplexity exports (and --full-size's stand-in, exports and GGUF) "
                             "are cached (default: <phi3nb cache>/bench)")
    from .full_size.plan import LONG, PREFILL

    full = parser.add_argument_group("--full-size: Phi-3-mini at its real size (phi3nb/bench/README.md)")
    full.add_argument("--full-size", action="store_true",
                      help="instead: a random stand-in with Phi-3-mini-4k-instruct's config (or --model-id) through "
                           "the cookbook's export, the chat's loads, decode, long prompts and chat, beside llama.cpp")
    full.add_argument("--long-context", action="store_true",
                      help="instead: a Phi-3.5-mini-shaped stand-in (LongRoPE, 128K) exported with the cookbook's "
                           "flags, one chat grown to 16K tokens past the switch at 4,096: decode before and after it, "
                           "the crossing turn, memory at 4K, 8K and 16K")
    full.add_argument("--model-id", default=None,
                      help="with --full-size: the real model (hub id or Hugging Face folder) instead of the stand-in")
    full.add_argument("--presets", default="cookbook,fast",
                      help="with --full-size: the exports to time, from phi3nb.export.presets.PRESETS and the "
                           "bench's SWEEP_PRESETS (g64, per-channel, int8; phi3nb/bench/presets.py) (default "
                           "cookbook,fast; fast-se adds a data-aware export, the slowest to make)")
    full.add_argument("--prefill", default=",".join(map(str, PREFILL)),
                      help=f"with --full-size: fresh prompt lengths timed (default {','.join(map(str, PREFILL))}; "
                           f"over {LONG} in the first round only)")
    full.add_argument("--re-export", action="store_true",
                      help="with --full-size: export and write the GGUF again (and measure them) instead of reusing")
    full.add_argument("--trust-remote-code", action="store_true",
                      help="with --full-size --model-id: let the export run the model repository's code")
    configs = parser.add_argument_group("--cpu-configs: load_genai's CPU default against the alternatives, in one "
                                        "process (phi3nb/bench/cpu_configs.py)")
    configs.add_argument("--cpu-configs", action="store_true",
                         help="instead: load --model-dir once per config side by side and interleave their decode "
                              "runs round by round (--runs, default 12; --new-tokens, default 48)")
    configs.add_argument("--configs", default=None,
                         help="with --cpu-configs: 'default' and some of phi3nb tune's candidates, comma-separated "
                              "(default: default,dq-32,dq-128,openvino-own)")
    configs.add_argument("--label", default=None,
                         help="with --cpu-configs: the export's name in tables, e.g. \"Phi-3-mini, the cookbook's export\"")
    return parser


def _log(msg):
    print(msg, flush=True)


def _resolve(args):
    """(model_dir, gguf or None, hf_dir or None, label)."""
    if args.model_dir:
        model_dir = Path(args.model_dir).expanduser()
        gguf = Path(args.gguf) if args.gguf else next(iter(sorted(model_dir.glob("*.gguf"))), None)
        from phi3nb.export.folder.swap import read_manifest

        source = (read_manifest(model_dir) or {}).get("source")
        hf_dir = Path(source) if source and (Path(source) / "config.json").exists() else None
        return model_dir, gguf, hf_dir, str(model_dir)
    from phi3nb.export.embedded import gguf_path, hf_model_dir, prepare_embedded_model

    model_dir = prepare_embedded_model()
    return model_dir, Path(args.gguf) if args.gguf else gguf_path(), hf_model_dir(), f"embedded ({model_dir})"


def _wanted(args) -> list:
    """The --backends names, checked before anything is measured."""
    from phi3nb.errors import Phi3nbError

    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    for name in wanted:
        if name not in BACKENDS:
            raise Phi3nbError(f"Unknown backend {name!r} in --backends: use a comma-separated subset of "
                              f"{', '.join(BACKENDS)}.")
    return wanted


def _backend_jobs(args, model_dir, gguf, extra_genai):
    from phi3nb.run.cpu_config import fast_cpu_config

    from .backend_llamacpp import unavailable_reason

    wanted = _wanted(args)
    jobs = {}
    for name in wanted:
        job = {"kind": name, "model_dir": str(model_dir), "runs": args.runs, "new_tokens": args.new_tokens}
        if args.chat_tokens:
            job["chat_tokens"] = args.chat_tokens
        if name == "genai":
            job["ov_config"] = fast_cpu_config(model_dir)  # load_genai's default before `phi3nb tune`
            jobs[name], jobs["genai-tuned"] = job, _tuned_job(job, model_dir)
            continue
        if name == "llama.cpp":
            reason = unavailable_reason()
            if reason is None and gguf is None:
                reason = "no GGUF of this model: pass --gguf PATH"
            if reason:
                jobs[name] = {"error": reason}
                continue
            job["gguf"] = str(gguf)
        jobs[name] = job
    if extra_genai and "genai" in wanted:
        jobs.update(extra_genai)
    return jobs


def _tuned_job(job, model_dir):
    """The genai job with load_genai's own choice, which is phi3nb_tuned.json's config when there is one."""
    from phi3nb.run.cpu_config import TUNED_FILE

    if not (Path(model_dir) / TUNED_FILE).exists():
        return {"error": f"no {TUNED_FILE} beside the model: run `phi3nb tune {model_dir}`, then bench again"}
    return {**job, "ov_config": None}


def decode_ratios(rounds: dict) -> dict:
    """{"A / B": {"decode": speed_ratio}} for each OpenVINO row vs llama.cpp, and genai vs optimum, round by round.

    `rounds` is run_rounds' {name: [result per round]}; a backend that never ran gives no ratio.
    """
    from .stats import per_round, speed_ratio

    tpot = {name: per_round(results, "tpot_ms") for name, results in rounds.items()}
    ran = {name for name, values in tpot.items() if any(v is not None for v in values)}
    pairs = [(name, REFERENCE) for name in rounds if name != REFERENCE] + [("genai", "optimum")]
    return {f"{a} / {b}": {"decode": speed_ratio(tpot[a], tpot[b])} for a, b in pairs if a in ran and b in ran}


def run_room(args) -> dict:
    """`--room 1,4,16 --url URL`: one room run per size, smallest first, as a table (and JSON)."""
    from phi3nb.errors import Phi3nbError

    from .room import format_room, room_bench

    if not args.url:
        raise Phi3nbError("--room needs --url: the chat server to measure, e.g. --url http://127.0.0.1:8000/v3")
    try:
        sizes = [int(n) for n in str(args.room).split(",") if n.strip()]
    except ValueError:
        raise Phi3nbError(f"--room {args.room!r}: use whole numbers separated by commas, e.g. --room 1,4,16.") from None
    rows = []
    for n in sizes:
        _log(f"[bench] room of {n}: {args.room_turns} turns each, {args.chat_tokens or 64} tokens per reply...")
        rows.append(room_bench(args.url, n, turns=args.room_turns, max_new_tokens=args.chat_tokens or 64))
    print(format_room(rows), flush=True)
    for r in rows:
        for message in r["error_messages"]:
            print(f"[bench] room of {r['attendees']}: {message}")
    from phi3nb.run.cpu import cpu_info

    result = {"room": rows, "meta": {"url": args.url, "threads": os.cpu_count(), "cpu": cpu_info()}}
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(result, indent=2, default=str))
        _log(f"[bench] wrote {args.json}")
    return result


def run(args) -> dict:
    if getattr(args, "room", None):
        return run_room(args)
    if getattr(args, "long_context", False):
        from .full_size.long_context import run as run_long_context

        return run_long_context(args)
    if getattr(args, "cpu_configs", False):
        from .cpu_configs import run as run_cpu_configs

        return run_cpu_configs(args)
    if getattr(args, "full_size", False):
        from .full_size.run import run as run_full_size

        return run_full_size(args)
    args.runs = 3 if args.runs is None else args.runs
    args.new_tokens = 128 if args.new_tokens is None else args.new_tokens
    _wanted(args)
    from phi3nb.run.cpu import cpu_info
    from phi3nb.run.cpu_config import FAST_CPU_HINTS
    from phi3nb.run.cpu_config import fast_cpu_config

    from .presets import FAST_PRESET, PERPLEXITY_PRESETS, COOKBOOK_PRESET, SLICE_PRESETS, cli_flags
    from .roofline import read_bandwidth_gb_s, roofline, weight_bytes
    from .runner import run_rounds
    from .stats import RATIO_CONVENTION, merge_rounds

    started = time.perf_counter()
    from phi3nb.export.paths import cache_dir

    work = Path(args.work_dir).expanduser() if args.work_dir else cache_dir() / "bench"
    model_dir, gguf, hf_dir, label = _resolve(args)
    import datetime

    result = {"meta": {"model_dir": label, "gguf": str(gguf) if gguf else None, "cpu": cpu_info(all_flags=True),
                       "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                       "runs": args.runs, "rounds": args.runs, "ratio_convention": RATIO_CONVENTION,
                       "new_tokens": args.new_tokens, "threads": os.cpu_count(),
                       "fast_preset": {"quant": FAST_PRESET, "optimum_cli": cli_flags(FAST_PRESET),
                                       "ov_config": FAST_CPU_HINTS},
                       "cookbook_preset": {"quant": COOKBOOK_PRESET, "optimum_cli": cli_flags(COOKBOOK_PRESET)}}}

    extra = {}
    if not args.skip_perplexity:
        if hf_dir is None:
            result["perplexity"] = {"error": "no PyTorch source of this model known (its phi3nb_export.json "
                                             "names none): perplexity needs the Hugging Face folder"}
        else:
            _log("[bench] perplexity: PyTorch vs fp16, int8, int4 (cookbook flags, fast, fast-se) exports...")
            from .perplexity import perplexity_table

            key = Path(hf_dir).resolve().as_posix().strip("/").replace("/", "_")
            result["perplexity"] = table = perplexity_table(hf_dir, work / "exports" / key, PERPLEXITY_PRESETS)
            for name in ("fast", "fast-se"):  # the all-int4 exports, decoded with load_genai's CPU hints
                folder = table[f"int4-{name}"]["model_dir"]
                extra[f"genai-{name}"] = {"kind": "genai", "model_dir": folder, "runs": args.runs,
                                          "ov_config": fast_cpu_config(folder, FAST_CPU_HINTS),
                                          "new_tokens": args.new_tokens}
                if args.chat_tokens:
                    extra[f"genai-{name}"]["chat_tokens"] = args.chat_tokens

    _log("[bench] measuring read bandwidth...")
    bw = read_bandwidth_gb_s()
    result["roofline"] = roofline(bw, weight_bytes(model_dir))

    result["backends"] = {}
    jobs = _backend_jobs(args, model_dir, gguf, extra)
    measured = {name: job for name, job in jobs.items() if "error" not in job}
    _log(f"[bench] {len(measured)} backends x {args.runs} rounds, each run a fresh process: load + "
         f"{args.new_tokens} tokens + a 5-turn chat + long prompts...")
    rounds = run_rounds(measured, args.runs, log=_log)
    for name, job in jobs.items():
        if "error" in job:
            result["backends"][name] = {"error": job["error"]}
            continue
        res = merge_rounds(rounds[name])
        if "error" not in res:
            own = weight_bytes(job["gguf"] if name == "llama.cpp" else job["model_dir"])
            res["weight_bytes_per_token"] = own
            res["roofline_fraction"] = res["decode_tok_s"] / roofline(bw, own)["limit_tok_s"]
        result["backends"][name] = res
        if "prefill_ttft_ms" in res:
            result.setdefault("prefill_ttft_ms", {})[name] = res["prefill_ttft_ms"]
    result["ratios"] = decode_ratios(rounds)

    if not args.skip_slice:
        from . import slice_bench

        models = slice_bench.prepare(work / "phi3-slice", SLICE_PRESETS, log=_log)
        hints = {f"openvino-{name}": FAST_CPU_HINTS for name in SLICE_PRESETS if name != "cookbook"}
        result["phi3_slice"] = slice_bench.measure(models, hints, runs=args.runs, log=_log)
        result["ratios"].update(slice_bench.slice_ratios(result["phi3_slice"]))

    result["meta"]["elapsed_s"] = time.perf_counter() - started
    from .report import format_report, publish

    return publish(result, format_report(result), args.json)


def main(argv=None):
    """`python -m phi3nb.bench`: the same run as `phi3nb bench`, without the rest of the CLI."""
    import argparse

    import sys

    from phi3nb.errors import Phi3nbError

    parser = add_arguments(argparse.ArgumentParser(prog="phi3nb bench", description=__doc__))
    try:
        run(parser.parse_args(argv))
    except Phi3nbError as e:  # as the phi3nb command says it
        print(f"phi3nb: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
