"""`phi3nb bench --full-size`: Phi-3-mini at its real size through every step the cookbook and the chat take.

A random stand-in with microsoft/Phi-3-mini-4k-instruct's config and tokens (or the real model, with
--model-id) is exported with the cookbook's flags and each fast preset through phi3nb.export_model and
written as llama.cpp's Q4_K_M by the bench's GGUF writer, each step once, watched (wall time, peak RSS
file-backed vs anonymous, peak disk). Then interleaved rounds, every run a fresh process in rotated
order: the engines (load, the first reply of a fresh pipeline, a later message of the same length and
its decode, fresh long prompts, the chat's 5 turns) and the loads (cold, warm, with CACHE_DIR). The
stand-in, the exports, the GGUF and their one-off measurements are cached under the bench's folder.
"""

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .memwatch import DiskWatcher, MemorySampler, tree_bytes

WORKER = "phi3nb.bench.fullsize_worker"
GGUF_TYPE = "Q4_K_M"
LLAMA = f"llama.cpp-{GGUF_TYPE}"
ROUNDS, NEW_TOKENS, CHAT_TOKENS, PREFILL = 2, 32, 16, (128, 1000, 3000)
LONG = 128  # fresh prompts longer than this run in the first round only: 1,000 and 3,000 tokens take minutes on 2 cores
FAST_PREFILL_MAX = 1000
JOB_TIMEOUT = 3600
UNITS = {"_s": "seconds", "_ms": "milliseconds", "_mb": "megabytes (1e6 bytes)", "tok_s": "tokens per second",
         "tpot_ms": "time per output token, ms (decode)", "first_ttft_ms": "first reply's time to first token in a "
         "fresh pipeline (32-token prompt)", "later_ttft_ms": "time to first token of a later 32-token message with "
         "no prefix in common", "rss_file_mb / rss_anon_mb": "the peak RSS's file-backed and anonymous parts at "
         "that moment", "uss_peak_mb": "peak private (unshared) memory", "peak_added_mb": "peak disk above the "
         "start, partial folders and temporary files included", "summary": "median, mean, sd, min, max and n over "
         "the rounds, per_round the rounds' own values (null: not run or failed)"}

# The figures the issue measured on this stand-in (2-core AMD EPYC, AVX2 without VNNI); the plan's estimate
# adds them up. PROCESS_S and LOAD_S are guesses (imports, and reading a 2-3 GB model): the issue has neither.
EPYC = {"standin_s": 120, "export_s": {"cookbook": 170, "fast": 135, "fast-se": 135 + 18 * 60}, "gguf_s": 274,
        "first_reply_s": {"openvino": 14.1, "llama.cpp": 3.1}, "prefill_ms": {"openvino": 74.0, "llama.cpp": 86.0},
        "tpot_ms": {"openvino": 286.0, "llama.cpp": 222.0}}
PROCESS_S, LOAD_S = 8.0, 15.0
CHAT_PROMPT_TOKENS = 40  # roughly what each turn of the chat adds to the prompt


def _log(msg):
    print(msg, flush=True)


# --- one step in a fresh process, watched ---------------------------------------------------------------

def watched(job, disk_paths=(), env=None) -> dict:
    """Run a fullsize_worker step in a fresh process (its output shown), watched from here: wall time,
    peak memory (memwatch.MemorySampler) and the peak disk added under `disk_paths`."""
    with tempfile.TemporaryDirectory(prefix="phi3nb-fullsize-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job, default=str))
        disk = DiskWatcher(disk_paths).start()
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", WORKER, str(job_path), str(out_path)], env=env)
        sampler = MemorySampler(proc.pid, interval=0.5).start()
        rc = proc.wait()
        wall = time.perf_counter() - start
        memory, used = sampler.stop(), disk.stop()
        result = json.loads(out_path.read_text()) if out_path.exists() else {"error": f"worker exited with {rc}"}
    return {**result, "wall_s": wall, "memory": {**memory["all"], "hwm_mb": memory["hwm_mb"]}, "disk": used}


class Records:
    """The one-off measurements (stand-in, exports, GGUF), kept beside what they measured and reused with it."""

    def __init__(self, root):
        self.path = Path(root) / "measured.json"
        try:
            self.data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def get(self, key, reused_note):
        rec = self.data.get(key)
        return {**rec, "reused": True} if rec else {"reused": True, "note": reused_note}

    def put(self, key, rec, cpu):
        rec = {**rec, "measured_on": datetime.date.today().isoformat(), "cpu": cpu, "reused": False}
        self.data[key] = rec
        self.path.write_text(json.dumps(self.data, indent=2, default=str))
        return rec


# --- what is measured ---------------------------------------------------------------------------------------

def work_root(args) -> Path:
    from phi3nb.paths import cache_dir

    base = Path(args.work_dir).expanduser() if args.work_dir else cache_dir() / "bench"
    if not args.model_id:
        return base / "full-size" / "phi3-mini-standin"
    return base / "full-size" / (re.sub(r"[^A-Za-z0-9._-]+", "_", str(args.model_id)).strip("_") or "model")


def resolve_model_id(model_id) -> Path:
    """A local folder as it is; a hub id downloaded (weights, configs, tokenizer; no repository code)."""
    from phi3nb.errors import Phi3nbError

    local = Path(model_id).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise Phi3nbError(f"{local} has no config.json: pass a Hugging Face model folder or id to --model-id.")
        return local.resolve()
    from huggingface_hub import snapshot_download

    _log(f"[bench] downloading {model_id} (into the Hugging Face cache)...")
    try:
        return Path(snapshot_download(model_id, allow_patterns=["*.json", "*.safetensors", "*.model", "*.jinja",
                                                                 "*.txt"]))
    except Exception as e:  # noqa: BLE001 - offline, typo, gated: all need the same advice
        raise Phi3nbError(f"Cannot download {model_id!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]}): check "
                          "the id and the connection, or pass a local folder to --model-id.") from None


def export_current(out, hf_dir, preset) -> bool:
    """True if `out` already holds `hf_dir` exported with `preset` (the flags export_model would use)."""
    from transformers import AutoConfig

    from phi3nb.export import effective_group_size, export_done, export_flags

    flags = dict(preset)
    if flags["weight_format"] == "int4":
        flags["group_size"] = effective_group_size(AutoConfig.from_pretrained(hf_dir), flags["group_size"])
    return export_done(out, str(hf_dir), export_flags(**flags))


def disk_needed(root, hf_dir, stand_in, presets, gguf_wanted) -> int:
    """Bytes the missing products and the largest step's temporary files will take (from the source's size:
    int4 exports ~0.4x it, Q4_K_M ~0.33x, and a step's temporary copy ~1x, the F16 GGUF or the export's IR)."""
    source = 2 * 3_821_079_552 if stand_in and not (Path(hf_dir) / "config.json").exists() else 0
    size = source or tree_bytes(hf_dir)
    need = source + sum(0.4 * size for name in presets if not (root / f"ov-{name}").exists())
    if gguf_wanted and not (root / f"{GGUF_TYPE.lower()}.gguf").exists():
        need += 0.33 * size
    return int(need + size)


def check_disk(root, need):
    from phi3nb.errors import Phi3nbError

    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < need:
        raise Phi3nbError(f"The full-size bench needs about {need / 1e9:.0f} GB free in {root} (the stand-in, its "
                          f"exports, the GGUF and one step's temporary files); there are {free / 1e9:.0f} GB. Free "
                          "space, or pass --work-dir on a larger disk.")


def prepare(args, root, presets, cpu, log=_log) -> dict:
    """The source, the exports and the GGUF (made and measured once, else reused), with their records."""
    from phi3nb.errors import Phi3nbError

    from .backend_llamacpp import unavailable_reason
    from .phi3_slice import PHI3_MINI_LAYERS, parameter_count

    records = Records(root)
    out = {"exports": {}}
    hf = resolve_model_id(args.model_id) if args.model_id else root / f"hf-{PHI3_MINI_LAYERS}l"
    llama_reason = unavailable_reason()
    gguf_wanted = not args.gguf and llama_reason is None
    check_disk(root, disk_needed(root, hf, not args.model_id, presets, gguf_wanted))
    if not args.model_id:
        if (hf / "config.json").exists():
            out["standin"] = records.get("standin", "written by an earlier run that kept no measurement")
        else:
            log(f"[bench] writing the full-size stand-in (random weights, Phi-3-mini-4k-instruct's config) in {hf}...")
            res = watched({"kind": "standin", "root": str(root)}, [root])
            if "error" in res:
                raise Phi3nbError(f"The stand-in could not be written ({res['error']}); its output is above. "
                                  f"Check the free memory and disk for {root}, or pass --work-dir elsewhere.")
            out["standin"] = records.put("standin", {**res, "size_mb": tree_bytes(hf) / 1e6}, cpu)
    out["hf_dir"], out["parameters"] = hf, parameter_count(hf)
    out["config"] = json.loads((hf / "config.json").read_text())

    tmp = root / "tmp"
    for name, preset in presets.items():
        target = root / f"ov-{name}"
        key = f"export-{name}"
        if not args.re_export and export_current(target, hf, preset):
            out["exports"][name] = {**records.get(key, "exported by an earlier run that kept no measurement: "
                                                       "--re-export measures it"), "model_dir": str(target)}
            continue
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        log(f"[bench] exporting with phi3nb.export_model, {name} flags {preset} (a fresh process, watched)...")
        job = {"kind": "export", "source": str(hf), "out": str(target), "preset": preset,
               "trust_remote_code": bool(args.trust_remote_code)}
        res = watched(job, [root], env={**os.environ, "TMPDIR": str(tmp)})  # its temporary files count as disk
        shutil.rmtree(tmp, ignore_errors=True)
        if "error" in res:
            out["exports"][name] = {"error": res["error"]}
            continue
        out["exports"][name] = records.put(key, {**res, "flags": preset, "final_mb": tree_bytes(target) / 1e6}, cpu)

    gguf = root / f"{GGUF_TYPE.lower()}.gguf"
    if args.gguf:
        out["gguf"] = {"path": str(Path(args.gguf).expanduser()), "note": "given with --gguf: not measured here"}
    elif llama_reason:
        out["gguf"] = {"error": llama_reason}
    elif gguf.exists() and not args.re_export:
        out["gguf"] = {**records.get("gguf", "written by an earlier run that kept no measurement"), "path": str(gguf)}
    else:
        gguf.unlink(missing_ok=True)
        log(f"[bench] writing the GGUF of the same weights and quantizing it to {GGUF_TYPE} (a fresh process)...")
        res = watched({"kind": "gguf", "hf_dir": str(hf), "out": str(gguf), "ftype": GGUF_TYPE}, [root])
        out["gguf"] = {"error": res["error"]} if "error" in res else records.put(
            "gguf", {**res, "path": str(gguf), "final_mb": tree_bytes(gguf) / 1e6}, cpu)
    return out


def engine_jobs(cookbook_dir, fast_dirs, gguf, new_tokens, chat_tokens, prefill) -> dict:
    """The timed rows: the cookbook's path (optimum, the cookbook's ov_config), the chat's (load_genai's
    default on the cookbook's export), each fast preset's (load_genai's default), llama.cpp on the same
    weights. The chat's path and llama.cpp get every prompt length, the fast presets those up to
    FAST_PREFILL_MAX, the cookbook's path those up to LONG (the budget: 3,000 tokens take minutes on 2 cores)."""
    base = {"tokenizer_dir": str(cookbook_dir), "new_tokens": new_tokens}
    jobs = {"optimum-cookbook": {**base, "kind": "optimum", "model_dir": str(cookbook_dir), "ov_config": {},
                                 "prefill": [n for n in prefill if n <= LONG]},
            "genai-chat": {**base, "kind": "genai", "model_dir": str(cookbook_dir), "ov_config": None,
                           "chat_tokens": chat_tokens, "prefill": list(prefill)}}
    for name, folder in fast_dirs.items():
        jobs[f"genai-{name}"] = {**base, "kind": "genai", "model_dir": str(folder), "ov_config": None,
                                 "prefill": [n for n in prefill if n <= FAST_PREFILL_MAX]}
    if gguf:
        jobs[LLAMA] = {**base, "kind": "llama.cpp", "gguf": str(gguf), "model_dir": str(cookbook_dir),
                       "chat_tokens": chat_tokens, "prefill": list(prefill)}
    return jobs


def load_steps(cookbook_dir, gguf, compiled_dir, config=None) -> dict:
    """The loads, in this order, each a fresh process: the chat's config (`config`, default load_genai's for
    this export) with CACHE_DIR off after the model's pages were dropped from the page cache (cold), again
    (warm), with an empty CACHE_DIR (OpenVINO writes the compiled model) and with that CACHE_DIR filled;
    llama.cpp cold and warm."""
    from phi3nb.genai_backend import fast_cpu_config

    config = fast_cpu_config(cookbook_dir) if config is None else config
    genai = {"kind": "genai", "model_dir": str(cookbook_dir), "tokenizer_dir": str(cookbook_dir)}
    off, on = {**config, "CACHE_DIR": ""}, {**config, "CACHE_DIR": str(compiled_dir)}
    steps = {"genai cold": {**genai, "ov_config": off, "evict": [str(cookbook_dir)]},
             "genai warm": {**genai, "ov_config": off},
             "genai CACHE_DIR, first": {**genai, "ov_config": on, "clear": str(compiled_dir)},
             "genai CACHE_DIR, reused": {**genai, "ov_config": on}}
    if gguf:
        llama = {"kind": "llama.cpp", "gguf": str(gguf), "model_dir": str(cookbook_dir),
                 "tokenizer_dir": str(cookbook_dir)}
        steps[f"{LLAMA} cold"] = {**llama, "evict": [str(gguf)]}
        steps[f"{LLAMA} warm"] = llama
    return steps


def run_one(job) -> dict:
    """One round's run of a row (or of the load group, step by step), each in a fresh process."""
    from . import runner

    if job["kind"] != "group":
        if job.get("round", 0) > 0:  # the long prompts in the first round only
            job = {**job, "prefill": [n for n in job.get("prefill", ()) if n <= LONG]}
        return runner.run_job(job, timeout=JOB_TIMEOUT, module=WORKER)
    steps = {}
    for name, step in job["steps"].items():
        if step.get("clear"):
            shutil.rmtree(step["clear"], ignore_errors=True)
        steps[name] = runner.run_job({**step, "round": job["round"]}, timeout=JOB_TIMEOUT, module=WORKER)
    if all("error" in r for r in steps.values()):
        return {"error": next(iter(steps.values()))["error"], "steps": steps}
    return {"steps": steps}


# --- the estimate ---------------------------------------------------------------------------------------

def job_seconds(job, first_round=True) -> float:
    """The issue's EPYC figures added up for one run of `job` (a group: its steps)."""
    if job["kind"] == "group":
        return sum(job_seconds(step, first_round) for step in job["steps"].values())
    engine = "llama.cpp" if job["kind"] == "llama.cpp" else "openvino"
    rate, tpot = EPYC["prefill_ms"][engine] / 1e3, EPYC["tpot_ms"][engine] / 1e3
    s = PROCESS_S + LOAD_S + EPYC["first_reply_s"][engine]
    if job.get("new_tokens"):
        s += 32 * rate + job["new_tokens"] * tpot
    if job.get("chat_tokens"):
        s += 5 * (CHAT_PROMPT_TOKENS * rate + job["chat_tokens"] * tpot)
    return s + sum(n * rate for n in job.get("prefill", ()) if first_round or n <= LONG)


def plan(prepared_steps, jobs, rounds) -> dict:
    """{"steps": [(what, seconds or None if cached)], "estimate_s"}: what this run will do, and how long that
    took on the issue's 2-core EPYC."""
    steps = list(prepared_steps)
    for r in range(rounds):
        names = ", ".join(jobs)
        steps.append((f"round {r + 1}/{rounds}: {names}", sum(job_seconds(j, r == 0) for j in jobs.values())))
    return {"steps": steps, "estimate_s": sum(s for _, s in steps if s)}


def prepare_plan(root, args, presets) -> list:
    """The one-off steps this run will do (seconds) or reuse (None)."""
    from .backend_llamacpp import unavailable_reason
    from .phi3_slice import PHI3_MINI_LAYERS

    hf = root / f"hf-{PHI3_MINI_LAYERS}l"
    steps = []
    if not args.model_id:
        steps.append(("stand-in", None if (hf / "config.json").exists() else EPYC["standin_s"]))
    for name in presets:
        cached = (root / f"ov-{name}").exists() and not args.re_export
        steps.append((f"export, {name} flags", None if cached else EPYC["export_s"].get(name, 170)))
    if not args.gguf and unavailable_reason() is None:
        cached = (root / f"{GGUF_TYPE.lower()}.gguf").exists() and not args.re_export
        steps.append((f"GGUF + {GGUF_TYPE}", None if cached else EPYC["gguf_s"]))
    return steps


def format_plan(p) -> str:
    lines = ["[bench] full-size plan (time each step took on the issue's 2-core AMD EPYC, AVX2 only; load and "
             "process start guessed):"]
    for what, s in p["steps"]:
        lines.append(f"[bench]   {what}: " + ("cached, reused" if s is None else f"~{s / 60:.0f} min"))
    lines.append(f"[bench]   total ~{p['estimate_s'] / 60:.0f} min there; less on a CPU with VNNI or AMX")
    return "\n".join(lines)


# --- merging the rounds -----------------------------------------------------------------------------------

def summary(values) -> dict:
    """summarize() of the rounds' values plus their median and the values themselves (None: not run)."""
    import statistics

    from .stats import summarize

    vals = [v for v in values if v is not None]
    return {**summarize(vals), "median": statistics.median(vals) if vals else None, "per_round": list(values)}


def _ok(results):
    return [r if r is not None and "error" not in r else None for r in results]


def merge_engine(results) -> dict:
    """One row's rounds as one result: a summary per figure, the memory of the round with the largest peak."""
    ok = _ok(results)
    if not any(ok):
        done = [r for r in results if r is not None]
        return {"error": done[0]["error"] if done else "not run"}
    out = {}
    for key in ("load_s", "first_ttft_ms", "later_ttft_ms", "tpot_ms", "decode_tok_s"):
        if any(r and key in r for r in ok):
            out[key] = summary([r.get(key) if r else None for r in ok])
    lengths = sorted({n for r in ok if r for n in r.get("prefill_ttft_ms", {})}, key=int)
    if lengths:
        out["prefill_ttft_ms"] = {n: summary([(r or {}).get("prefill_ttft_ms", {}).get(n) for r in ok])
                                  for n in lengths}
    chats = [r["chat_ttft_by_turn_ms"] for r in ok if r and r.get("chat_ttft_by_turn_ms")]
    if chats:
        out["chat_ttft_by_turn_ms"] = [summary(turn) for turn in zip(*chats)]
    phases = {}
    for r in ok:
        for phase, peaks in ((r or {}).get("memory", {}).get("phases") or {}).items():
            if peaks["rss_mb"] and peaks["rss_mb"] > (phases.get(phase) or {}).get("rss_mb", 0):
                phases[phase] = peaks
    out["memory"] = phases
    out["hwm_mb"] = max((r["memory"]["hwm_mb"] or 0 for r in ok if r and r.get("memory")), default=None)
    out["rounds"] = sum(1 for r in ok if r)
    failed = [{"round": i, "error": r["error"]} for i, r in enumerate(results) if r is not None and "error" in r]
    if failed:
        out["failed_rounds"] = failed
    return out


def merge_loads(results) -> dict:
    """The load group's rounds as {step: merged row}."""
    names = list(dict.fromkeys(n for r in results if r for n in r.get("steps", {})))
    return {name: merge_engine([(r or {}).get("steps", {}).get(name) for r in results]) for name in names}


def _column(results, key, sub=None):
    col = []
    for r in _ok(results):
        v = (r or {}).get(key)
        col.append(v.get(sub) if isinstance(v, dict) else v)
    return col


def ratios(rounds, loads) -> dict:
    """{"A / B": {figure: speed_ratio}} round by round (B's time / A's; > 1: A is faster): every OpenVINO row
    against llama.cpp on each time they share, the chat's path against the cookbook's, and the loads."""
    from .stats import speed_ratio

    out = {}

    def pair(a, b, ra, rb):
        figures = {}
        for key in ("tpot_ms", "first_ttft_ms", "later_ttft_ms", "load_s"):
            figures[key] = speed_ratio(_column(ra, key), _column(rb, key))
        lengths = {n for r in _ok(ra) + _ok(rb) if r for n in r.get("prefill_ttft_ms", {})}
        for n in sorted(lengths, key=int):
            figures[f"prefill_ttft_ms {n}"] = speed_ratio(_column(ra, "prefill_ttft_ms", n),
                                                          _column(rb, "prefill_ttft_ms", n))
        figures = {k: v for k, v in figures.items() if v["n"]}
        if figures:
            out[f"{a} / {b}"] = figures

    for name in rounds:
        if name != LLAMA and LLAMA in rounds:
            pair(name, LLAMA, rounds[name], rounds[LLAMA])
    if "genai-chat" in rounds and "optimum-cookbook" in rounds:
        pair("genai-chat", "optimum-cookbook", rounds["genai-chat"], rounds["optimum-cookbook"])
    step = {name: [(r or {}).get("steps", {}).get(name) for r in loads] for name in
            dict.fromkeys(n for r in loads if r for n in r.get("steps", {}))}
    for kind in ("cold", "warm"):
        if f"genai {kind}" in step and f"{LLAMA} {kind}" in step:
            pair(f"genai {kind}", f"{LLAMA} {kind}", step[f"genai {kind}"], step[f"{LLAMA} {kind}"])
    return out


# --- the run ----------------------------------------------------------------------------------------------

def meta(args, prepared, rounds, new_tokens, chat_tokens, prefill, cpu) -> dict:
    from importlib import metadata

    from phi3nb.export import library_versions

    versions = library_versions()
    for name in ("openvino-genai", "llama-cpp-python", "gguf", "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    from .cli import RATIO_CONVENTION

    return {"mode": "full-size", "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu, "threads": os.cpu_count(), "versions": versions,
            "model": {"source": str(args.model_id or prepared["hf_dir"]), "stand_in": not args.model_id,
                      "hf_dir": str(prepared["hf_dir"]), "parameters": prepared["parameters"],
                      "layers": prepared["config"].get("num_hidden_layers"), "config": prepared["config"]},
            "rounds": rounds, "new_tokens": new_tokens, "chat_tokens": chat_tokens, "prefill_lengths": list(prefill),
            "long_prefill": f"prompts over {LONG} tokens in the first round only", "units": UNITS,
            "ratio_convention": RATIO_CONVENTION}


def options(args) -> dict:
    """The run's settings from the command line, checked before anything is made: presets, prefill, rounds,
    new_tokens, chat_tokens."""
    from phi3nb.cookbook import PRESETS
    from phi3nb.errors import Phi3nbError

    if args.model_dir:
        raise Phi3nbError("--full-size makes its own exports: pass the Hugging Face model with --model-id, "
                          "not an OpenVINO folder with --model-dir.")
    names = [n.strip() for n in args.presets.split(",") if n.strip()]
    if any(n not in PRESETS for n in names) or "cookbook" not in names:
        raise Phi3nbError(f"--presets {args.presets!r}: use names from {', '.join(PRESETS)}, with cookbook among "
                          "them (the cookbook's and the chat's path run on its export).")
    try:
        prefill = tuple(int(n) for n in args.prefill.split(",") if n.strip())
    except ValueError:
        raise Phi3nbError(f"--prefill {args.prefill!r}: use token counts separated by commas, e.g. "
                          "128,1000,3000.") from None
    return {"presets": {n: PRESETS[n] for n in names}, "prefill": prefill, "rounds": args.runs or ROUNDS,
            "new_tokens": args.new_tokens or NEW_TOKENS, "chat_tokens": args.chat_tokens or CHAT_TOKENS}


def all_jobs(root, cookbook_dir, fast_dirs, gguf, opts, config=None) -> dict:
    """The engines' rows and the load group, as run_rounds takes them."""
    jobs = engine_jobs(cookbook_dir, fast_dirs, gguf, opts["new_tokens"], opts["chat_tokens"], opts["prefill"])
    jobs["loads"] = {"kind": "group", "steps": load_steps(cookbook_dir, gguf, root / "compiled", config)}
    return jobs


def planned(args, root, opts) -> dict:
    """plan() of this run before anything exists: the folders the jobs will use, the steps still to make."""
    from .backend_llamacpp import unavailable_reason

    gguf = Path(args.gguf).expanduser() if args.gguf else root / f"{GGUF_TYPE.lower()}.gguf"
    fast = {n: root / f"ov-{n}" for n in opts["presets"] if n != "cookbook"}
    jobs = all_jobs(root, root / "ov-cookbook", fast, gguf if unavailable_reason() is None else None, opts, config={})
    return plan(prepare_plan(root, args, opts["presets"]), jobs, opts["rounds"])


def run(args) -> dict:
    from phi3nb.errors import Phi3nbError

    from .report_fullsize import format_full_size
    from .runner import run_rounds
    from .stats import cpu_info

    started = time.perf_counter()
    opts = options(args)
    presets, prefill, rounds = opts["presets"], opts["prefill"], opts["rounds"]
    new_tokens, chat_tokens = opts["new_tokens"], opts["chat_tokens"]
    cpu = cpu_info(all_flags=True)
    root = work_root(args)
    _log(format_plan(planned(args, root, opts)))

    prepared = prepare(args, root, presets, cpu["model"])
    exports = prepared["exports"]
    if "error" in exports.get("cookbook", {}):
        raise Phi3nbError(f"The cookbook-flags export failed, so nothing can be timed: {exports['cookbook']['error']}")
    gguf = prepared["gguf"].get("path") if "error" not in prepared["gguf"] else None
    fast = {n: exports[n]["model_dir"] for n in presets if n != "cookbook" and "error" not in exports[n]}
    jobs = all_jobs(root, Path(exports["cookbook"]["model_dir"]), fast, gguf, opts)
    _log(f"[bench] {len(jobs)} jobs x {rounds} rounds, each run a fresh process, order rotated...")
    per_round = run_rounds(jobs, rounds, log=_log, run=run_one)
    shutil.rmtree(root / "compiled", ignore_errors=True)

    result = {"meta": meta(args, prepared, rounds, new_tokens, chat_tokens, prefill, cpu),
              "standin": prepared.get("standin"), "exports": exports, "gguf": prepared["gguf"],
              "engines": {name: merge_engine(per_round[name]) for name in jobs if name != "loads"},
              "load": merge_loads(per_round["loads"]),
              "ratios": ratios({n: per_round[n] for n in jobs if n != "loads"}, per_round["loads"])}
    if not gguf:
        result["engines"][LLAMA] = {"error": prepared["gguf"].get("error", "no GGUF")}
    result["meta"]["elapsed_s"] = time.perf_counter() - started
    print(format_full_size(result), flush=True)
    if args.json:
        Path(args.json).expanduser().write_text(json.dumps(result, indent=2, default=str))
        _log(f"[bench] wrote {args.json}")
    return result
