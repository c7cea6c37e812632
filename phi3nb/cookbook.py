"""The Phi-3 Cookbook's OpenVINO chat sample, as values: one place the notebook, CLI and tests share."""

COOKBOOK_MODEL_ID = "microsoft/Phi-3-mini-4k-instruct"
COOKBOOK_MODEL_DIR = "./model/phi3-instruct/int4"
COOKBOOK_DEVICE = "GPU.0"
COOKBOOK_MAX_NEW_TOKENS = 1024
COOKBOOK_TASK = "text-generation-with-past"
# Step 1's flags: --weight-format int4 --group-size 128 --ratio 0.6 --sym --trust-remote-code
COOKBOOK_EXPORT = {"weight_format": "int4", "group_size": 128, "ratio": 0.6, "sym": True}

# Step 3, exactly as the cookbook writes it.
OV_CONFIG = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1", "CACHE_DIR": ""}

# Step 6 and 7.
TOKENIZER_KWARGS = {"add_special_tokens": False}
COOKBOOK_SYSTEM = "You are a helpful AI assistant."
COOKBOOK_QUESTION = "can you introduce yourself?"
COOKBOOK_PROMPT = (
    "<|system|>You are a helpful AI assistant.<|end|>"
    "<|user|>can you introduce yourself?<|end|><|assistant|>"
)

# Phi-3's stop tokens: <|endoftext|>, <|assistant|>, <|end|>, as its generation_config.json lists them
# (config.json names only 32000; generate() reads the generation config, so the cookbook's call stops).
PHI3_EOS_IDS = (32000, 32001, 32007)

# Beside the cookbook's flags: the fastest configuration `phi3nb bench` found on a Phi-3-mini-shaped
# slice: every decoder layer int4 (ratio 1.0), decoded with the f32 hint, which on bf16-capable CPUs turns
# on OpenVINO's dynamic int8 activations for int4 weights. It costs perplexity (the embedded model's, vs
# the cookbook's flags); the same format with scale estimation on phi3nb/calibration.txt (FAST_SE_EXPORT)
# wins most of it back for a slower export. Figures, each with the CPU it was measured on:
# phi3nb/bench/README.md.
FAST_EXPORT = {"weight_format": "int4", "group_size": 128, "ratio": 1.0, "sym": True}
# f32 on the CPU: faster int4 decoding (above) and greedy answers that match PyTorch token for token.
F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}
# The int8 activations of those products quantized per 128 inputs, not the plugin's 32: on the 4-layer
# Phi-3-mini slice with group-128 weights, 17.5 vs 18.1 ms/token here and 17.9 vs 19.3 with AVX2+AVX-VNNI
# kernels (ONEDNN_MAX_CPU_ISA=AVX2_VNNI); perplexity unchanged. OpenVINO quantizes activations only on CPUs
# with VNNI (AVX-VNNI or AVX-512 VNNI); on AVX2-only CPUs (AMD Zen 2/3, Intel up to Comet Lake)
# this changes nothing (bench/stats.py quantizes_activations). Never larger than the weights' own group
# (genai_backend.fast_cpu_config fits it): group-64 weights with 128 ran 1.2x slower here, 1.6x with
# AVX2+AVX-VNNI kernels (phi3nb/bench/README.md, "Without AVX-512").
DQ_GROUP = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 128}
FAST_CPU_HINTS = {**F32_HINT, **DQ_GROUP}
FAST_CPU_CONFIG = {**OV_CONFIG, **FAST_CPU_HINTS}
# FAST_EXPORT's format with scale estimation on phi3nb/calibration.txt (offline): perplexity within 5 % of
# the cookbook's flags, the fast preset's speed, a slower export (bench preset fast-se).
FAST_SE_EXPORT = {**FAST_EXPORT, "scale_estimation": True, "dataset": "phi3nb-calibration"}
PRESETS = {"cookbook": COOKBOOK_EXPORT, "fast": FAST_EXPORT, "fast-se": FAST_SE_EXPORT}
