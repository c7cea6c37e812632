"""Phi-3-mini per-layer decode cost on each engine, from random 2- and 4-layer slices.

ms/layer = (TPOT(4 layers) - TPOT(2 layers)) / 2; MB/layer from the file sizes likewise;
extrapolated tok/s = 1000 / (TPOT(2) + 30 * ms/layer), i.e. 32 layers plus the same
embedding, lm_head and loop overheads the 2-layer model has.
"""

import shutil
from pathlib import Path

from ..standins.phi3_random import PHI3_MINI_LAYERS, build_slices
from .roofline import weight_bytes
from .runner import run_rounds
from .stats import merge_rounds, per_round, speed_ratio

DEPTHS = (2, 4)
PROMPT = "The quick brown fox jumps over the lazy dog. " * 4
GGUF_TYPE = "Q4_K_M"


def _ensure_hf(root, cache):
    if "hf" not in cache:
        cache["hf"] = build_slices(root, DEPTHS)
    return cache["hf"]


def _ensure_fp16(root, n, cache):
    from .ov_export import export_fp16

    key = ("fp16", n)
    if key not in cache:
        cache[key] = export_fp16(_ensure_hf(root, cache)[n], root / f"ov-fp16-{n}l")
    return cache[key]


def prepare(root, presets: dict, with_gguf=True, log=print) -> dict:
    """{engine_format: {depth: model path} or {"error": why}}; built once, then reused from `root`."""
    from .ov_export import compress, compressed

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    cache, models = {}, {}
    for name, quant in presets.items():
        key = f"openvino-{name}"
        models[key] = {}
        for n in DEPTHS:
            out = root / f"ov-{name}-{n}l"
            fp16 = root / f"ov-fp16-{n}l"
            if not compressed(fp16, out, quant):
                log(f"[bench] Phi-3 slice: exporting {n} layers with {name} {quant}...")
                fp16 = _ensure_fp16(root, n, cache)
            models[key][n] = compress(fp16, out, quant)
    if with_gguf:
        from .backend_llamacpp import unavailable_reason

        key = f"llama.cpp-{GGUF_TYPE}"
        reason = unavailable_reason()
        if reason:
            models[key] = {"error": reason}
        else:
            from .gguf_writer import make_quantized_gguf

            models[key] = {}
            for n in DEPTHS:
                out = root / f"{GGUF_TYPE.lower()}-{n}l.gguf"
                if not out.exists():
                    log(f"[bench] Phi-3 slice: the {n}-layer GGUF, quantized to {GGUF_TYPE}...")
                    make_quantized_gguf(_ensure_hf(root, cache)[n], out, GGUF_TYPE, log=log)
                models[key][n] = out
    # The big intermediates (HF bf16, OpenVINO fp16: ~4 GB) go; the products stay for the next run.
    for n in DEPTHS:
        for tmp in (root / f"hf-{n}l", root / f"ov-fp16-{n}l"):
            shutil.rmtree(tmp, ignore_errors=True)
    return models


def measure(models: dict, ov_configs: dict, runs=3, new_tokens=64, log=print) -> dict:
    """Per engine_format: ms_per_layer, mb_per_layer, gb_s, extrapolated_tok_s (+ the raw TPOTs).

    `runs` rounds, each timing every (engine, depth) once in a fresh process, depth by depth with the engines
    rotated (runner.run_rounds); ms_per_layer_per_round is each round's own (TPOT(4) - TPOT(2)) / 2.
    """
    out, jobs = {}, {}
    for key, paths in models.items():
        if "error" in paths:
            out[key] = {"error": paths["error"]}
    timed = [key for key in models if key not in out]
    for n in DEPTHS:
        for key in timed:
            job = {"new_tokens": new_tokens, "chat": False, "prefill": (), "prompt": PROMPT}
            if key.startswith("llama.cpp"):
                job.update(kind="llama.cpp", gguf=str(models[key][n]), model_dir=None)
            else:
                job.update(kind="genai", model_dir=str(models[key][n]), ov_config=ov_configs.get(key, {}))
            jobs[(key, n)] = job
    rounds = run_rounds(jobs, runs, log=log, describe=lambda kn: f"Phi-3 slice {kn[0]}, {kn[1]} layers")
    for key in timed:
        merged = {n: merge_rounds(rounds[(key, n)]) for n in DEPTHS}
        failed = [m for m in merged.values() if "error" in m]
        if failed:
            out[key] = {"error": failed[0]["error"]}
            continue
        paths = models[key]
        out[key] = slice_figures({n: merged[n]["spread"]["tpot_ms"] for n in DEPTHS},
                                 {n: weight_bytes(paths[n]) for n in DEPTHS})
        out[key]["ov_config"] = ov_configs.get(key) if not key.startswith("llama.cpp") else None
        lo, hi = DEPTHS
        tpot = {n: per_round(rounds[(key, n)], "tpot_ms") for n in DEPTHS}
        out[key]["ms_per_layer_per_round"] = [(b - a) / (hi - lo) if a is not None and b is not None else None
                                              for a, b in zip(tpot[lo], tpot[hi])]
        out[key]["rounds"] = min(m["rounds"] for m in merged.values())
    return out


def slice_ratios(sliced: dict) -> dict:
    """{"slice openvino-X / llama.cpp-Q4_K_M": {"per_layer": speed_ratio}}: each OpenVINO format's ms/layer
    against llama.cpp's, round by round (> 1: OpenVINO is faster)."""
    reference = f"llama.cpp-{GGUF_TYPE}"
    if "ms_per_layer_per_round" not in sliced.get(reference, {}):
        return {}
    ref = sliced[reference]["ms_per_layer_per_round"]
    return {f"slice {key} / {reference}": {"per_layer": speed_ratio(v["ms_per_layer_per_round"], ref)}
            for key, v in sliced.items() if key.startswith("openvino-") and "ms_per_layer_per_round" in v}


def slice_figures(tpot: dict, size: dict) -> dict:
    """From {depth: tpot summary} and {depth: bytes}; uses each depth's best (least disturbed) TPOT."""
    lo, hi = DEPTHS
    per_layer = {s: (tpot[hi][s] - tpot[lo][s]) / (hi - lo) for s in ("min", "mean")}
    mb = (size[hi] - size[lo]) / (hi - lo) / 1e6
    ms = per_layer["min"]
    full = tpot[lo]["min"] + (PHI3_MINI_LAYERS - lo) * ms
    return {"ms_per_layer": ms, "mb_per_layer": mb, "gb_s": mb / ms if ms > 0 else None,
            "extrapolated_tok_s": 1000.0 / full if full > 0 else None,
            "ms_per_layer_from_means": per_layer["mean"],
            "tpot_ms": {str(n): tpot[n] for n in DEPTHS}, "file_mb": {str(n): size[n] / 1e6 for n in DEPTHS}}
