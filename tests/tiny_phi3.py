"""A tiny random Phi-3 with Phi-3's special tokens and chat template, built offline.

Architecture-faithful (Phi3Config, vocab 32064, the real special-token ids), so export,
loading and prompt handling run exactly as for microsoft/Phi-3-mini-4k-instruct; its
output is noise.
"""

import tempfile
from pathlib import Path

PHI3_SPECIALS = {
    "<|endoftext|>": 32000,
    "<|assistant|>": 32001,
    "<|placeholder1|>": 32002,
    "<|placeholder2|>": 32003,
    "<|placeholder3|>": 32004,
    "<|placeholder4|>": 32005,
    "<|system|>": 32006,
    "<|end|>": 32007,
    "<|placeholder5|>": 32008,
    "<|placeholder6|>": 32009,
    "<|user|>": 32010,
}

# Phi-3-mini-4k-instruct's chat template (tokenizer_config.json of the model on the hub).
PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


def build_tokenizer():
    """Byte-level BPE whose ids 0-2 are Llama's and 32000-32010 are Phi-3's specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    while len(vocab) < 32000:
        vocab[f"<filler{len(vocab)}>"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(PHI3_SPECIALS))
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        pad_token="<|endoftext|>",
        chat_template=PHI3_CHAT_TEMPLATE,
        model_max_length=4096,
    )
    assert all(tok.convert_tokens_to_ids(t) == i for t, i in PHI3_SPECIALS.items())
    return tok


def build_tiny_phi3(path, *, hidden_size=256, layers=2, seed=0) -> Path:
    """Save a random Phi-3 (HF format) plus tokenizer to `path` and return it."""
    import torch
    from transformers import GenerationConfig, Phi3Config, Phi3ForCausalLM

    path = Path(path)
    torch.manual_seed(seed)
    config = Phi3Config(
        vocab_size=32064,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=1,
        eos_token_id=32000,
        pad_token_id=32000,
        tie_word_embeddings=False,
    )
    model = Phi3ForCausalLM(config).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=1, eos_token_id=[32000, 32001, 32007], pad_token_id=32000
    )
    model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)
    return path


SESSION = {}


def tiny_phi3_source() -> Path:
    """The tiny Phi-3 in Hugging Face format, built once per pytest session (also for nbval)."""
    if "hf" not in SESSION:
        SESSION["base"] = Path(tempfile.mkdtemp(prefix="phi3nb-test-"))
        SESSION["hf"] = build_tiny_phi3(SESSION["base"] / "tiny-phi3-hf")
    return SESSION["hf"]
