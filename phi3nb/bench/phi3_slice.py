"""A Phi-3-mini-shaped slice with random weights: the real layer sizes, only 2 or 4 layers.

Decode time per layer comes from the difference between the two depths, so per-token
overheads (embedding, lm_head, sampling, Python) cancel; 32 layers are then extrapolated.
"""

from pathlib import Path

PHI3_MINI = dict(hidden_size=3072, intermediate_size=8192, num_attention_heads=32, num_key_value_heads=32,
                 vocab_size=32064, max_position_embeddings=4096, rms_norm_eps=1e-5, rope_theta=10000.0)
PHI3_MINI_LAYERS = 32
EOS = "<|endoftext|>"
# A plain chat template, so chat-mode code paths (genai start_chat, build_prompt) run on the slice too.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


def slice_tokenizer(vocab_size=PHI3_MINI["vocab_size"]):
    """Byte-level BPE covering every id of the model (fillers past the 256 bytes), so any sampled id decodes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, EOS: 2}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    letters = "abcdefghijklmnopqrstuvwxyz"
    merges = [(a, b) for a in "\u0120" + letters for b in letters]  # "Ġt", "th", ...: llama.cpp needs merges
    for a, b in merges:
        vocab[a + b] = len(vocab)
    while len(vocab) < vocab_size:
        vocab[f"<f{len(vocab)}>"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(["<unk>", "<s>", EOS])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token=EOS, unk_token="<unk>",
                                   pad_token=EOS, model_max_length=PHI3_MINI["max_position_embeddings"],
                                   chat_template=CHAT_TEMPLATE)


def build_slices(root, layers=(2, 4), seed=0, sizes=None) -> dict:
    """{n_layers: HF folder}: one random model with max(layers) layers, saved truncated to each depth.

    The shallower slices hold exactly the first layers of the deepest one (same weights).
    Weights are saved in fp16 (1.3 GB for 4 layers). `sizes` overrides PHI3_MINI (tests use tiny ones).
    """
    import torch
    from transformers import Phi3Config, Phi3ForCausalLM

    root = Path(root)
    out = {n: root / f"hf-{n}l" for n in layers}
    if all((p / "config.json").exists() for p in out.values()):
        return out
    torch.manual_seed(seed)
    tok = slice_tokenizer()
    config = Phi3Config(num_hidden_layers=max(layers), bos_token_id=1, eos_token_id=2, pad_token_id=2,
                        tie_word_embeddings=False, **{**PHI3_MINI, **(sizes or {})})
    with torch.device("cpu"):
        model = Phi3ForCausalLM(config).eval().to(torch.float16)
    for n in sorted(layers, reverse=True):
        model.model.layers = model.model.layers[:n]
        model.config.num_hidden_layers = n
        if hasattr(model.config, "layer_types") and model.config.layer_types:
            model.config.layer_types = model.config.layer_types[:n]
        model.save_pretrained(out[n], safe_serialization=True)
        tok.save_pretrained(out[n])
    return out
