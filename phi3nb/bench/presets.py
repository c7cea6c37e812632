"""Export presets compared by the bench, as OVWeightQuantizationConfig arguments and optimum-cli flags.

The cookbook's and the fast preset's flags live in phi3nb/cookbook.py (COOKBOOK_EXPORT, FAST_EXPORT).
Measured numbers (Phi-3-mini slice, embedded-model perplexity) are in phi3nb/bench/README.md.
"""

from phi3nb.cookbook import FAST_EXPORT, FAST_SE_EXPORT, COOKBOOK_EXPORT

# Presets are export_model's flags (phi3nb/export.py compresses them).
# The Phi-3 Cookbook's flags: --weight-format int4 --group-size 128 --ratio 0.6 --sym
COOKBOOK_PRESET = COOKBOOK_EXPORT

# Every linear layer of the decoder in int4 (ratio 1.0), per-128 groups, symmetric;
# embeddings and lm_head stay int8 (nncf's default without --all-layers).
# With F32_HINT (phi3nb/cookbook.py), Phi-3-mini slice, 2 threads: 3.28 ms/layer, 58 MB/layer, ~9.1 tok/s at 32 layers,
# vs llama.cpp Q4_K_M 5.52 ms/layer (5.5 tok/s) and the cookbook flags 6.13 ms/layer (4.9 tok/s).
# Cost: perplexity x1.185 of PyTorch on the embedded SmolLM2-135M (cookbook flags x1.076, int8 x1.002).
# The runtime side is F32_HINT: on CPUs with bf16 (AVX512_BF16/AMX) OpenVINO infers in bf16 by default and
# then decodes int4 weights without dynamic int8 quantization of the activations; f32 turns that VNNI path on.
# Measured on the Phi-3-mini slice (FAST_PRESET): 4.26 -> 3.28 ms/layer with 2 threads, 8.5 -> 6.2 with 1;
# with the cookbook flags 6.13 -> 3.94. Prefill runs in f32 then.
FAST_PRESET = FAST_EXPORT

# FAST_PRESET's format and graph (so its speed), with the int4 scales chosen by nncf's scale estimation on
# phi3nb/calibration.txt (not on paragraph.txt, which the perplexity is measured on). Not AWQ: on Phi-3's fused
# gate_up_proj it adds a Multiply per layer. Embedded SmolLM2-135M: perplexity x1.123 of PyTorch (FAST_PRESET x1.185,
# cookbook flags x1.076, so x1.044 of the cookbook's); slice and embedded decode as fast as FAST_PRESET
# (README: "A fast export that keeps quality"). Time it with F32_HINT, as FAST_PRESET.
FAST_SE_PRESET = FAST_SE_EXPORT

INT8_PRESET = {"weight_format": "int8", "group_size": -1, "ratio": 1.0, "sym": True}

# What the perplexity table exports of the embedded model (beside fp16).
PERPLEXITY_PRESETS = {"int4-cookbook": COOKBOOK_PRESET, "int4-fast": FAST_PRESET, "int4-fast-se": FAST_SE_PRESET,
                      "int8": INT8_PRESET}

# What the Phi-3-mini slice exports and times (as "openvino-NAME"), and the runtime config of each.
SLICE_PRESETS = {"cookbook": COOKBOOK_PRESET, "fast": FAST_PRESET, "fast-se": FAST_SE_PRESET}


def cli_flags(preset) -> str:
    """The optimum-cli flags that produce `preset`."""
    from phi3nb.export import export_command

    line = export_command("M", "OUT", **preset, trust_remote_code=False)
    return line[line.index("--weight-format"):-len(" OUT")]
