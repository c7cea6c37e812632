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
import os
import shutil
import time
from pathlib import Path

from .merge import merge_engine, merge_loads, ratios
from .plan import (CHAT_TOKENS, FAST_PREFILL_MAX, LONG, NEW_TOKENS, ROUNDS, format_plan, plan,
                            prepare_plan)
from .prepare import GGUF_TYPE, LLAMA, WORKER, _log, prepare, work_root

JOB_TIMEOUT = 3600
UNITS = {"_s": "seconds", "load_cpu_s": "CPU seconds of all the process's threads during the load (over load_s: the "
         "cores it kept busy)", "_ms": "milliseconds", "_mb": "megabytes (1e6 bytes)", "tok_s": "tokens per second",
         "tpot_ms": "time per output token, ms (decode)", "first_ttft_ms": "first reply's time to first token in a "
         "fresh pipeline (32-token prompt)", "later_ttft_ms": "time to first token of a later 32-token message with "
         "no prefix in common", "rss_file_mb / rss_anon_mb": "the peak RSS's file-backed and anonymous parts at "
         "that moment", "uss_peak_mb": "peak private (unshared) memory", "peak_added_mb": "peak disk above the "
         "start, partial folders and temporary files included", "summary": "median, mean, sd, min, max and n over "
         "the rounds, per_round the rounds' own values (null: not run or failed)"}


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
    llama.cpp cold and warm. The cold loads only where Python can drop a file's cached pages (os.posix_fadvise:
    Linux); elsewhere (Windows, macOS) a "cold" load would be a warm one under the wrong name, so it is left out."""
    from phi3nb.run.cpu_config import fast_cpu_config

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
    if not hasattr(os, "posix_fadvise"):
        steps = {name: step for name, step in steps.items() if "evict" not in step}
    return steps


def run_one(job) -> dict:
    """One round's run of a row (or of the load group, step by step), each in a fresh process."""
    from .. import runner

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


def meta(args, prepared, rounds, new_tokens, chat_tokens, prefill, cpu) -> dict:
    from phi3nb.export.convert import library_versions

    versions = {**library_versions(),
                **library_versions(("openvino-genai", "llama-cpp-python", "gguf", "safetensors"))}
    from ..backend_llamacpp import build_info
    from ..stats import RATIO_CONVENTION

    return {"mode": "full-size", "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu, "threads": os.cpu_count(), "versions": versions, "llama_cpp_build": build_info(),
            "model": {"source": str(args.model_id or prepared["hf_dir"]), "stand_in": not args.model_id,
                      "hf_dir": str(prepared["hf_dir"]), "parameters": prepared["parameters"],
                      "layers": prepared["config"].get("num_hidden_layers"), "config": prepared["config"]},
            "rounds": rounds, "new_tokens": new_tokens, "chat_tokens": chat_tokens, "prefill_lengths": list(prefill),
            "long_prefill": f"prompts over {LONG} tokens in the first round only", "units": UNITS,
            "ratio_convention": RATIO_CONVENTION}


def options(args) -> dict:
    """The run's settings from the command line, checked before anything is made: presets, prefill, rounds,
    new_tokens, chat_tokens."""
    from phi3nb.errors import Phi3nbError

    from ..presets import FULL_SIZE_PRESETS as PRESETS

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
    from ..backend_llamacpp import unavailable_reason

    gguf = Path(args.gguf).expanduser() if args.gguf else root / f"{GGUF_TYPE.lower()}.gguf"
    fast = {n: root / f"ov-{n}" for n in opts["presets"] if n != "cookbook"}
    jobs = all_jobs(root, root / "ov-cookbook", fast, gguf if unavailable_reason() is None else None, opts, config={})
    return plan(prepare_plan(root, args, opts["presets"]), jobs, opts["rounds"])


def run(args) -> dict:
    from phi3nb.run.cpu import cpu_info
    from phi3nb.errors import Phi3nbError

    from ..report import publish
    from .report import format_full_size
    from ..runner import run_rounds

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
    try:
        per_round = run_rounds(jobs, rounds, log=_log, run=run_one)
    finally:
        shutil.rmtree(root / "compiled", ignore_errors=True)

    result = {"meta": meta(args, prepared, rounds, new_tokens, chat_tokens, prefill, cpu),
              "standin": prepared.get("standin"), "exports": exports, "gguf": prepared["gguf"],
              "engines": {name: merge_engine(per_round[name]) for name in jobs if name != "loads"},
              "load": merge_loads(per_round["loads"]),
              "ratios": ratios({n: per_round[n] for n in jobs if n != "loads"}, per_round["loads"])}
    if not gguf:
        result["engines"][LLAMA] = {"error": prepared["gguf"].get("error", "no GGUF")}
    result["meta"]["elapsed_s"] = time.perf_counter() - started
    return publish(result, format_full_size(result), args.json)
