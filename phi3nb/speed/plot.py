"""The notebook's "How fast is it?" figure, drawn from `phi3nb bench --json` output."""

import json
from pathlib import Path

# The figures measured on this project's machine, shipped so the notebook has something to show.
SHIPPED = Path(__file__).with_name("measurements") / "this-machine.json"
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
}


def load(results=None) -> dict:
    if isinstance(results, dict):
        return results
    return json.loads(Path(results or SHIPPED).read_text())


def machine(data) -> str:
    """Where the figures come from: the JSON's `meta.machine` (the shipped file has one), else the CPU the
    bench recorded (`meta.cpu`), else unnamed."""
    from .cpu import cpu_text

    meta = data.get("meta", {})
    return meta.get("machine") or cpu_text(meta.get("cpu")) or "the machine that ran phi3nb bench"


def plot(results=None):
    """Decode speed per backend against the memory-bandwidth limit, and Phi-3-mini's cost per layer per engine."""
    import matplotlib.pyplot as plt

    data = load(results)
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
