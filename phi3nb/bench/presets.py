"""Export presets compared by the bench, as OVWeightQuantizationConfig arguments and optimum-cli flags.

The cookbook's flags live in phi3nb/cookbook.py (COOKBOOK_EXPORT), the fast presets' in phi3nb/export/presets.py.
Their measured speed and perplexity, with the CPU and date: docs/how-fast.md, rendered from phi3nb/measurements/.
"""

from phi3nb.cookbook import COOKBOOK_EXPORT
from phi3nb.export.presets import FAST_EXPORT, FAST_SE_EXPORT, PRESETS

# Presets are export_model's flags (phi3nb/export/convert.py compresses them).
# The Phi-3 Cookbook's flags: --weight-format int4 --group-size 128 --ratio 0.6 --sym
COOKBOOK_PRESET = COOKBOOK_EXPORT

# Every linear layer of the decoder in int4 (ratio 1.0), per-128 groups, symmetric;
# embeddings and lm_head stay int8 (nncf's default without --all-layers).
# The runtime side is F32_HINT: on CPUs with bf16 (AVX512_BF16/AMX) OpenVINO infers in bf16 by default and
# then decodes int4 weights without dynamic int8 quantization of the activations; f32 turns that VNNI path on
# (where the CPU has VNNI). Prefill runs in f32 then. Its speed and perplexity, with the CPU they were
# measured on: docs/how-fast.md (from phi3nb/measurements/).
FAST_PRESET = FAST_EXPORT

# FAST_PRESET's format and graph (so its speed), with the int4 scales chosen by nncf's scale estimation on
# phi3nb/export/calibration.txt (not on paragraph.txt, which the perplexity is measured on). Not AWQ: on Phi-3's fused
# gate_up_proj it adds a Multiply per layer. Time it with F32_HINT, as FAST_PRESET.
FAST_SE_PRESET = FAST_SE_EXPORT

INT8_PRESET = {"weight_format": "int8", "group_size": -1, "ratio": 1.0, "sym": True}

# What the perplexity table exports of the embedded model (beside fp16).
PERPLEXITY_PRESETS = {"int4-cookbook": COOKBOOK_PRESET, "int4-fast": FAST_PRESET, "int4-fast-se": FAST_SE_PRESET,
                      "int8": INT8_PRESET}

# What the Phi-3-mini slice exports and times (as "openvino-NAME"), and the runtime config of each.
SLICE_PRESETS = {"cookbook": COOKBOOK_PRESET, "fast": FAST_PRESET, "fast-se": FAST_SE_PRESET}


# What else the full-size bench can export and time (--presets), in search of the fastest export for the full
# model beside the product's presets: int4 in smaller groups (more scales, finer weights), int4 per output
# channel (one scale per row: the least arithmetic per weight), and int8 per channel (twice the bytes, but
# OpenVINO's int8 kernels with int8 activations on VNNI/AMX).
SWEEP_PRESETS = {"g64": {**FAST_EXPORT, "group_size": 64},
                 "per-channel": {**FAST_EXPORT, "group_size": -1},
                 "int8": INT8_PRESET}
FULL_SIZE_PRESETS = {**PRESETS, **SWEEP_PRESETS}


def cli_flags(preset) -> str:
    """The optimum-cli flags that produce `preset`."""
    from phi3nb.export.options import export_command

    line = export_command("M", "OUT", **preset, trust_remote_code=False)
    return line[line.index("--weight-format"):-len(" OUT")]
