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
