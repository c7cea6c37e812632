"""load_genai's CPU settings: `phi3nb tune`'s pick for this CPU if there is one, else phi3nb's default on top of
the cookbook's ov_config (phi3nb's own choice, not the cookbook's).

Each is measured, with the CPU it was measured on, in phi3nb/bench/README.md ("Without AVX-512 (and with
it)"); `phi3nb tune` times the alternatives on the user's CPU.
"""

import json
from pathlib import Path

from ..cookbook import OV_CONFIG
from ..export.folder.model_dir import int4_group_size
from .devices import full_device_name

TUNED_FILE = "phi3nb_tuned.json"  # written by `phi3nb tune MODEL_DIR` beside the model

# f32 on the CPU: on CPUs with bf16 (AVX512_BF16/AMX) OpenVINO infers in bf16 by default and then decodes
# int4 weights without dynamic int8 quantization of the activations; f32 turns that VNNI path on (where the
# CPU has VNNI), so int4 decoding is faster, and greedy answers match PyTorch token for token.
F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}
# The int8 activations of those products quantized per 128 inputs, not the plugin's 32: a little faster on
# the 4-layer Phi-3-mini slice with group-128 weights, natively and with AVX2+AVX-VNNI kernels
# (ONEDNN_MAX_CPU_ISA=AVX2_VNNI); perplexity unchanged. OpenVINO quantizes activations only on CPUs
# with VNNI (AVX-VNNI or AVX-512 VNNI); on AVX2-only CPUs (AMD Zen 2/3, Intel up to Comet Lake)
# this changes nothing (cpu.quantizes_activations). Never larger than the weights' own group
# (fast_cpu_config fits it): group-64 weights with 128 ran slower. Figures, with the CPU:
# phi3nb/bench/README.md, "With VNNI: the activation group".
DQ_GROUP = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 128}
FAST_CPU_HINTS = {**F32_HINT, **DQ_GROUP}
FAST_CPU_CONFIG = {**OV_CONFIG, **FAST_CPU_HINTS}


def cpu_config(path) -> tuple:
    """(config, note for the load line) a CPU load uses when the caller gives none."""
    return tuned_config(path, fast_cpu_config(path))


def fast_cpu_config(model_dir, base=FAST_CPU_CONFIG) -> dict:
    """`base` with the activations' quantization group cut to the weights' int4 group where that is smaller:
    a larger one makes OpenVINO leave its fast int4 kernel (cpu_config.py, DQ_GROUP)."""
    config = dict(base)
    group = int4_group_size(model_dir)
    if group and 0 < group < config.get("DYNAMIC_QUANTIZATION_GROUP_SIZE", 0):
        config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = group
    return config


def tuned_config(path, default) -> tuple:
    """(config, note for the load line): phi3nb_tuned.json's if it was measured on this CPU, else `default`."""
    try:
        tuned = json.loads((Path(path) / TUNED_FILE).read_text())
        config = dict(tuned["ov_config"])
    except (OSError, ValueError, KeyError, TypeError):
        return default, ""
    if tuned.get("cpu") != full_device_name("CPU"):
        return default, f" (not using {TUNED_FILE}: it was tuned on {tuned.get('cpu')}; run phi3nb tune again)"
    return config, f" with {TUNED_FILE} ({tuned.get('winner')}: {config})"
