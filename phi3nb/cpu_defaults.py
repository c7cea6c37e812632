"""load_genai's CPU settings on top of the cookbook's ov_config: phi3nb's own choice, not the cookbook's.

Each is measured, with the CPU it was measured on, in phi3nb/bench/README.md ("Without AVX-512 (and with
it)"); `phi3nb tune` times the alternatives on the user's CPU.
"""

from .cookbook import OV_CONFIG

# f32 on the CPU: on CPUs with bf16 (AVX512_BF16/AMX) OpenVINO infers in bf16 by default and then decodes
# int4 weights without dynamic int8 quantization of the activations; f32 turns that VNNI path on (where the
# CPU has VNNI), so int4 decoding is faster, and greedy answers match PyTorch token for token.
F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}
# The int8 activations of those products quantized per 128 inputs, not the plugin's 32: a little faster on
# the 4-layer Phi-3-mini slice with group-128 weights, natively and with AVX2+AVX-VNNI kernels
# (ONEDNN_MAX_CPU_ISA=AVX2_VNNI); perplexity unchanged. OpenVINO quantizes activations only on CPUs
# with VNNI (AVX-VNNI or AVX-512 VNNI); on AVX2-only CPUs (AMD Zen 2/3, Intel up to Comet Lake)
# this changes nothing (cpu.quantizes_activations). Never larger than the weights' own group
# (genai_backend.fast_cpu_config fits it): group-64 weights with 128 ran slower. Figures, with the CPU:
# phi3nb/bench/README.md, "With VNNI: the activation group".
DQ_GROUP = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 128}
FAST_CPU_HINTS = {**F32_HINT, **DQ_GROUP}
FAST_CPU_CONFIG = {**OV_CONFIG, **FAST_CPU_HINTS}
