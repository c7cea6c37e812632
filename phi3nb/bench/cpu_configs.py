"""`phi3nb bench --cpu-configs`: load_genai's CPU default against the alternatives on one export, in one process.

Fresh processes (`phi3nb tune`, the full-size bench) pay a load per run, and on a shared VM one config's runs
spread by a third from one process to the next: alternations of three configs on group-128 weights ranked them
differently each time. Here every config is loaded once, side by side in one process, and the decode runs
interleave round by round (order rotated), seconds apart: a busy neighbour slows every config alike, and each
round gives a paired ratio against the default. The price is memory, every config's copy of the model at once;
what it writes is what the load line quotes (phi3nb/measurements/cpu-configs-*.json, run/cpu_config.py).
"""

import datetime
import json
import statistics
import time
from pathlib import Path

DEFAULT_CONFIGS = "default,dq-32,dq-128,openvino-own"
# Read in each process beside the model's own weights: the repacked copy and the KV cache's start
PER_CONFIG_FACTOR = 1.5


PHRASES = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": lambda v: f"activation group {v}" if v else "no int8 activations",
           "INFERENCE_PRECISION_HINT": lambda v: f"{v} math" if v else "OpenVINO's own precision (bf16 where the CPU has it)",
           "KV_CACHE_PRECISION": lambda v: f"a {v} KV cache", "ENABLE_CPU_PINNING": lambda v: f"thread pinning {v}"}


def describe(name, changes) -> str:
    """A row's words in tables: what the candidate changes in load_genai's default."""
    if name == "default":
        return "load_genai's CPU default for this export on this CPU"
    if name == "openvino-own":
        return "the cookbook's ov_config alone (OpenVINO's own precision and activation group)"
    return "load_genai's default with " + ", ".join(PHRASES.get(k, lambda v: f"{k}={v}")(v) for k, v in changes.items())


def plan(model_dir, names, cpu, log=print) -> dict:
    """{name: ov_config} for the named candidates of `phi3nb tune` on this export, without those that would be
    the default again or change nothing on this CPU (each logged); Phi3nbError for an unknown name, nothing
    left to compare, or more copies of the model than free memory holds."""
    import psutil

    from phi3nb.errors import Phi3nbError
    from phi3nb.run.cpu_config import fast_cpu_config
    from phi3nb.speed.tune import CANDIDATES, config_of, runnable

    unknown = [n for n in names if n not in CANDIDATES]
    if unknown or "default" not in names:
        raise Phi3nbError(f"--configs takes 'default' and some of {', '.join(c for c in CANDIDATES if c != 'default')}"
                          f" (phi3nb tune's candidates), comma-separated{'; unknown: ' + ', '.join(unknown) if unknown else ''}.")
    base = fast_cpu_config(model_dir, cpu=cpu)
    kept = runnable({name: CANDIDATES[name] for name in names}, base, cpu,
                    lambda line: log(line.replace("[tune]", "[bench]", 1)))
    if len(kept) < 2:
        raise Phi3nbError("Nothing to compare the default with on this export and CPU: name other --configs.")
    need = PER_CONFIG_FACTOR * len(kept) * (Path(model_dir) / "openvino_model.bin").stat().st_size
    free = psutil.virtual_memory().available
    if need > free:
        raise Phi3nbError(f"{len(kept)} copies of this model need about {need / 1e9:.1f} GB and {free / 1e9:.1f} GB "
                          "is free: pass fewer --configs, or close what uses the memory.")
    return {name: config_of(changes, base) for name, changes in kept.items()}


def run_configs(model_dir, names, rounds, new_tokens, label=None, log=print) -> dict:
    """Load each named config once (load_genai, warmed up), then `rounds` rounds of `new_tokens` greedy tokens
    of `phi3nb tune`'s question each, the configs in rotated order: the cpu-configs JSON."""
    from phi3nb.export.folder.model_dir import check_model_dir, int4_ratio, weight_compression
    from phi3nb.export.folder.swap import read_manifest
    from phi3nb.run.cpu import cpu_info
    from phi3nb.speed.timing import WARMUP, WARMUP_TOKENS, TimedGenai, decode_prompt
    from phi3nb.speed.tune import CANDIDATES, rotated

    from .stats import RATIO_CONVENTION, speed_ratio

    path = check_model_dir(model_dir)
    cpu = cpu_info(all_flags=True)
    configs = plan(path, names, cpu, log)
    started, loaded, load_s = time.perf_counter(), {}, {}
    try:
        for name, config in configs.items():
            log(f"[bench] loading {path.name} with {name}: {config}")
            t0 = time.perf_counter()
            loaded[name] = TimedGenai(path, "CPU", ov_config=config)
            load_s[name] = time.perf_counter() - t0
            loaded[name].decode(WARMUP, WARMUP_TOKENS)
        prompt = decode_prompt(path)
        runs = {name: [] for name in configs}
        for r in range(rounds):
            for name in rotated(list(configs), r):
                ttft, tpot, tokens = loaded[name].decode(prompt, new_tokens)
                runs[name].append({"round": r + 1, "ttft_ms": ttft * 1e3, "tpot_ms": tpot * 1e3, "tokens": tokens})
                log(f"[bench] round {r + 1}/{rounds} {name:<14} {tpot * 1e3:7.2f} ms/token")
    finally:
        for timed in loaded.values():
            timed.close()
    tpot = {name: [run["tpot_ms"] for run in done] for name, done in runs.items()}
    median = {name: statistics.median(values) for name, values in tpot.items()}
    wins = [min(configs, key=lambda n: tpot[n][r]) for r in range(rounds)]
    weights, ratio = weight_compression(path), int4_ratio(path)
    flags = (read_manifest(path) or {}).get("flags")
    made_with = ", ".join(f"{k} {v}" for k, v in flags.items()) if flags else ""
    return {"meta": {"mode": "cpu-configs", "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                     "cpu": cpu, "model": str(path), "export_flags": flags,
                     "export_short": label or (f"{path.name} ({made_with})" if made_with else path.name),
                     "weights": list(weights) if weights else None, "int4_ratio": ratio,
                     "command": (f"phi3nb bench --cpu-configs: every config loaded once in one process (load_genai, "
                                 f"warmed up), then {rounds} rounds of {new_tokens} greedy tokens of phi3nb tune's "
                                 "question each, the configs in rotated order; alone on the machine"),
                     "noise": (f"{len(configs)} configs; runs of one config spread by up to "
                               f"{max(max(v) / min(v) - 1 for v in tpot.values()):.0%}; the default was the fastest "
                               f"in {wins.count('default')} of the {rounds} rounds"),
                     "configs": {name: describe(name, CANDIDATES[name]) for name in configs},
                     "ov_config": configs, "default": "default", "load_s": load_s, "new_tokens": new_tokens,
                     "rounds": rounds, "ratio_convention": RATIO_CONVENTION,
                     "elapsed_s": time.perf_counter() - started},
            "runs": runs, "median_tpot_ms": median,
            "ratios": {f"{name} / default": speed_ratio(tpot[name], tpot["default"]) for name in configs
                       if name != "default"}}


def format_report(result) -> str:
    meta, median = result["meta"], result["median_tpot_ms"]
    lines = [f"load_genai's CPU configs on {meta['export_short']}, {meta['date']} ({meta['cpu'].get('model')}):"]
    for name, ms in sorted(median.items(), key=lambda item: item[1]):
        ratio = result["ratios"].get(f"{name} / default")
        paired = f"  {ratio['median']:.2f}x the default's speed (rounds {ratio['min']:.2f}-{ratio['max']:.2f})" if ratio else ""
        lines.append(f"  {name:<14} median {ms:7.2f} ms/token{paired}")
    lines.append(f"  ({meta['noise']})")
    return "\n".join(lines)


def run(args) -> dict:
    """`phi3nb bench --cpu-configs --model-dir DIR [--configs A,B] [--runs R] [--new-tokens N] [--json PATH]`."""
    from phi3nb.errors import Phi3nbError

    if not args.model_dir:
        raise Phi3nbError("--cpu-configs times the configs on one export: pass --model-dir FOLDER.")
    names = [n.strip() for n in (args.configs or DEFAULT_CONFIGS).split(",") if n.strip()]
    result = run_configs(args.model_dir, names, args.runs or 12, args.new_tokens or 48, label=args.label)
    print(format_report(result), flush=True)
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(result, indent=2))
        print(f"[bench] wrote {args.json}", flush=True)
    return result
