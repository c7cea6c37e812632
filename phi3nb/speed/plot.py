"""The notebook's "How fast is it?" figure: by default Phi-3-mini at full size on the CPUs it was measured on
(the shipped `phi3nb bench --full-size` runs), or any `phi3nb bench --json` output a user passes."""

import json
import re
from pathlib import Path

from ..measurements import FOLDER as MEASUREMENTS, FULL_SIZE_RUNS

# The full-size runs the notebook shows, one per CPU class: what users care about is Phi-3-mini itself.
SHIPPED = tuple(MEASUREMENTS / name for name in FULL_SIZE_RUNS)
HOW_TO_MEASURE = 'Yours: run `phi3nb bench --json out.json`, then plot("out.json").'
# Bench keys in plain words, for readers who have not read the bench's README.
LABELS = {
    "optimum": "optimum (the cookbook's path)",
    "genai": "openvino_genai",
    "genai-fast": "openvino_genai, all int4 + f32",
    "genai-fast-se": "openvino_genai, all int4, scale estimation",
    "genai-tuned": "openvino_genai, phi3nb tune's config",
    "llama.cpp": "llama.cpp",
    "openvino-cookbook": "OpenVINO, the cookbook's int4",
    "openvino-fast": "OpenVINO, all int4 + f32",
    "openvino-fast-se": "OpenVINO, all int4, scale estimation",
    "llama.cpp-Q4_K_M": "llama.cpp, 4-bit",
    # --full-size rows
    "optimum-cookbook": "optimum (the cookbook's path)",
    "genai-chat": "openvino_genai (the chat)",
    "genai-g64": "openvino_genai, int4 groups of 64",
    "genai-per-channel": "openvino_genai, int4 per channel",
    "genai-int8": "openvino_genai, int8",
}


def load(results=None):
    """One bench result (a dict), or a list of them for the full-size runs: `results` as given, read from a
    path, or the shipped full-size runs."""
    if results is None:
        return [load(path) for path in SHIPPED]
    if isinstance(results, (dict, list)):
        return results
    return json.loads(Path(results).read_text(encoding="utf-8"))


def machine(data) -> str:
    """Where the figures come from: the CPU the bench recorded (`meta.cpu`) and the day, else the JSON's
    `meta.machine`, else unnamed."""
    from ..run.cpu import cpu_text

    meta = data.get("meta", {})
    cpu = cpu_text(meta.get("cpu"))
    day = (meta.get("date") or "")[:10] or next(iter(re.findall(r"\d{4}-\d\d-\d\d", meta.get("machine", ""))), "")
    if cpu:
        return f"{cpu}{', ' + day if day else ''}"
    return meta.get("machine") or "the machine that ran phi3nb bench"


# The flags that decide OpenVINO's int4 path (cpu.quantizes_activations, bf16, AMX), for a short legend.
KEY_FLAGS = ("avx2", "avx_vnni", "avx512_vnni", "avx512_bf16", "amx_tile")


def short_machine(data) -> str:
    """"Intel Xeon (avx2 avx512_vnni avx512_bf16 amx_tile), 2026-12-02": a legend entry naming CPU and day."""
    meta = data.get("meta", {})
    cpu = meta.get("cpu") or {}
    if not cpu:
        return machine(data)
    name = " ".join(re.sub(r"\(R\)|\(TM\)| Processor", "", cpu.get("model") or "unknown CPU").split())
    flags = " ".join(f for f in KEY_FLAGS if f in (cpu.get("flags") or ())) or "no AVX2"
    day = (meta.get("date") or "")[:10]
    return f"{name} ({flags}){', ' + day if day else ''}"


def plot(results=None):
    """Decode speed per path and CPU (Phi-3-mini at full size, by default), or for one `phi3nb bench --json` file:
    decode speed per backend against the memory-bandwidth limit, and Phi-3-mini's cost per layer per engine."""
    data = load(results)
    if isinstance(data, list) or "engines" in data:
        return plot_full_size(data if isinstance(data, list) else [data])
    return plot_bench(data)


def _median(summary):
    return summary.get("median") if isinstance(summary, dict) else None


def plot_full_size(runs):
    """One bar per path and CPU: decode tokens/s, and the first token of a fresh load's first reply."""
    import matplotlib.pyplot as plt

    paths = list(dict.fromkeys(k for run in runs for k, e in run.get("engines", {}).items()
                               if _median(e.get("decode_tok_s"))))
    fig, axes = plt.subplots(1, 2, figsize=(12, 1.8 + 0.22 * len(paths) * len(runs)), squeeze=False, sharey=True)
    height = 0.8 / len(runs)
    colors = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3")
    for ax, figure, scale, xlabel in ((axes[0][0], "decode_tok_s", 1, "decode tokens/s (higher is better)"),
                                      (axes[0][1], "first_ttft_ms", 1000,
                                       "first token of a fresh load's first reply, s (lower is better)")):
        for i, run in enumerate(runs):
            engines = run.get("engines", {})
            ys = [p + i * height for p, key in enumerate(paths) if _median(engines.get(key, {}).get(figure))]
            xs = [_median(engines[key][figure]) / scale for key in paths if _median(engines.get(key, {}).get(figure))]
            ax.barh(ys, xs, height=height, color=colors[i % len(colors)], label=short_machine(run))
        ax.set_xlabel(xlabel)
    axes[0][0].set_yticks([p + height * (len(runs) - 1) / 2 for p in range(len(paths))])
    axes[0][0].set_yticklabels([LABELS.get(k, k) for k in paths])
    axes[0][0].invert_yaxis()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=1, fontsize=8, frameon=False)
    fig.suptitle("Phi-3-mini at full size (random weights in its shapes), measured with phi3nb bench --full-size. "
                 + HOW_TO_MEASURE, fontsize=9)
    fig.tight_layout(rect=(0, 0.02 + 0.03 * len(runs), 1, 1))
    return fig


def plot_bench(data):
    """Decode speed per backend against the memory-bandwidth limit, and Phi-3-mini's cost per layer per engine."""
    import matplotlib.pyplot as plt

    backends = {k: v for k, v in data["backends"].items() if v.get("decode_tok_s")}
    slice_ = {k: v for k, v in data.get("phi3_slice", {}).items() if v.get("ms_per_layer")}
    fig, axes = plt.subplots(1, 2 if slice_ else 1, figsize=(11 if slice_ else 6, 4), squeeze=False)
    ax = axes[0][0]
    ax.barh([LABELS.get(k, k) for k in backends], [v["decode_tok_s"] for v in backends.values()], color="#4c72b0")
    limit = data.get("roofline", {}).get("limit_tok_s")
    if limit:
        ax.axvline(limit, color="#c44e52", linestyle="--", label=f"memory-bandwidth limit {limit:.0f} tok/s")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("decode tokens/s (higher is better)")
    ax.set_title("Embedded model, one reply")
    if slice_:
        ax = axes[0][1]
        ax.barh([LABELS.get(k, k) for k in slice_], [v["ms_per_layer"] for v in slice_.values()], color="#55a868")
        ax.set_xlabel("ms per layer per token (lower is better)")
        ax.set_title("Phi-3-mini-shaped layers")
    fig.suptitle(f"Measured on {machine(data)}. {HOW_TO_MEASURE}", fontsize=9)
    fig.tight_layout()
    return fig
