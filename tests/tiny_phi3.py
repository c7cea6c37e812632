"""A tiny random Phi-3 with Phi-3's special tokens and chat template, built offline.

Architecture-faithful (Phi3Config, vocab 32064, the real special-token ids), so export,
loading and prompt handling run exactly as for microsoft/Phi-3-mini-4k-instruct; its
output is noise.
"""

import tempfile
from pathlib import Path

from phi3nb.standins.phi3_tokens import phi3_tokenizer


def build_tokenizer():
    """Byte-level BPE whose ids 0-2 are Llama's and 32000-32010 are Phi-3's specials (no merges)."""
    return phi3_tokenizer(merges=False)


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
