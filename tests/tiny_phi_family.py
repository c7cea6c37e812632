"""The Phi family as tiny random stand-ins, built offline: one table, name -> builder, that tests run over.

Each keeps what phi3nb reads from its model's published config.json, generation_config.json and
tokenizer_config.json (special-token ids, end-of-turn ids, chat template, context window, grouped KV heads,
tied embeddings, LongRoPE) at tiny widths; their output is noise. Widths stay multiples of 128, as the real
models' are, so the cookbook's int4 group size 128 fits them as it fits the real ones.

Phi-3-mini-128k-instruct has no stand-in of its own: what phi3nb reads from it (Phi-3's vocabulary and ids,
a LongRoPE context of 131072) is what the Phi-3.5-mini stand-in has.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from phi3nb.standins.phi3_tokens import PHI3_SPECIALS
from tiny_phi3 import build_tiny_phi3

# Phi-4-mini-instruct's special tokens: <|endoftext|> is GPT-4o's (o200k), the turn tags follow it.
PHI4_SPECIALS = {
    "<|endoftext|>": 199999,
    "<|assistant|>": 200019,
    "<|end|>": 200020,
    "<|user|>": 200021,
    "<|system|>": 200022,
    "<|tool|>": 200023,
}
PHI4_VOCAB = 200064  # config.json's vocab_size: the embedding has rows past the tokenizer's last id
PHI4_EOS_IDS = (200020, 199999)  # generation_config.json: <|end|>, <|endoftext|>

# Phi-4-mini-instruct's chat template (tokenizer_config.json): no newline after the role tags.
PHI4_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' and 'tools' in message and message['tools'] is not none %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + '<|/tool|>' + '<|end|>' }}"
    "{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}"
)


@dataclass(frozen=True)
class Member:
    """One model of the family and what the tests expect of its stand-in."""

    hub_id: str
    preconverted: str  # OpenVINO's int4 folder of it on the hub
    build: Callable[[Path], Path]
    specials: dict  # the turn and end tags, with their ids
    eos_ids: tuple  # generation_config.json's eos_token_id


def longrope(head_dim, rotary=1.0):
    """A LongRoPE `rope_scaling` of the shape the models publish, with factors sized for `head_dim`.

    The factors are placeholders: the real lists are longer (one per rotary pair of the real head width).
    """
    pairs = int(head_dim * rotary) // 2
    return {"type": "longrope", "short_factor": [1.0 + i / (10 * pairs) for i in range(pairs)],
            "long_factor": [1.0 + i for i in range(pairs)]}


def build_tiny_phi35(path, *, hidden_size=256, layers=2, seed=0) -> Path:
    """Phi-3.5-mini-instruct: Phi-3-mini's vocabulary, ids and generation config, with a LongRoPE 128k context."""
    import torch
    from transformers import GenerationConfig, Phi3Config, Phi3ForCausalLM

    from tiny_phi3 import build_tokenizer

    torch.manual_seed(seed)
    heads = 4
    config = Phi3Config(vocab_size=32064, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                        max_position_embeddings=131072, original_max_position_embeddings=4096,
                        rope_scaling=longrope(hidden_size // heads), bos_token_id=1, eos_token_id=32000,
                        pad_token_id=32000, tie_word_embeddings=False)
    return _save(path, Phi3ForCausalLM(config).eval(), build_tokenizer(),
                 GenerationConfig(bos_token_id=1, eos_token_id=[32000, 32001, 32007], pad_token_id=32000))


def phi4_tokenizer():
    """Byte-level BPE (no merges) with Phi-4-mini's special ids; unreachable fillers hold the other ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    taken = {i: t for t, i in PHI4_SPECIALS.items()}
    vocab.update((taken.get(i, f"<filler{i}>"), i) for i in range(len(vocab), max(taken) + 1))
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(PHI4_SPECIALS))  # at the ids the vocabulary gives them
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>", unk_token="<|endoftext|>",
                                  chat_template=PHI4_CHAT_TEMPLATE, model_max_length=131072)
    wrong = {t: tok.convert_tokens_to_ids(t) for t, i in PHI4_SPECIALS.items() if tok.convert_tokens_to_ids(t) != i}
    if wrong:
        raise RuntimeError(f"Phi-4-mini's special tokens got other ids: {wrong}")
    return tok


def build_tiny_phi4(path, *, hidden_size=128, layers=2, seed=0) -> Path:
    """Phi-4-mini-instruct: 200,064-token vocabulary, tied embeddings, 4 query heads on 2 KV heads,
    rotary on 3/4 of each head (partial_rotary_factor 0.75), LongRoPE 128k context."""
    import torch
    from transformers import GenerationConfig, Phi3Config, Phi3ForCausalLM

    torch.manual_seed(seed)
    heads, rotary = 4, 0.75
    config = Phi3Config(vocab_size=PHI4_VOCAB, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
                        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads // 2,
                        partial_rotary_factor=rotary, max_position_embeddings=131072,
                        original_max_position_embeddings=4096, rope_scaling=longrope(hidden_size // heads, rotary),
                        bos_token_id=199999, eos_token_id=200020, pad_token_id=199999, tie_word_embeddings=True,
                        # Tied and at the default scale, a random model echoes the token it was fed (here
                        # <|assistant|>, a stop tag) or loops on two; larger random weights write varied noise.
                        initializer_range=0.1)
    return _save(path, Phi3ForCausalLM(config).eval(), phi4_tokenizer(),
                 GenerationConfig(bos_token_id=199999, eos_token_id=list(PHI4_EOS_IDS), pad_token_id=199999))


def _save(path, model, tokenizer, generation_config) -> Path:
    path = Path(path)
    model.generation_config = generation_config
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


PHI3_TURN_TAGS = {t: PHI3_SPECIALS[t] for t in ("<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>")}

FAMILY = {
    "phi-3-mini": Member(hub_id="microsoft/Phi-3-mini-4k-instruct",
                         preconverted="OpenVINO/Phi-3-mini-4k-instruct-int4-ov",
                         build=build_tiny_phi3, specials=PHI3_TURN_TAGS, eos_ids=(32000, 32001, 32007)),
    "phi-3.5-mini": Member(hub_id="microsoft/Phi-3.5-mini-instruct",
                           preconverted="OpenVINO/Phi-3.5-mini-instruct-int4-ov",
                           build=build_tiny_phi35, specials=PHI3_TURN_TAGS, eos_ids=(32000, 32001, 32007)),
    "phi-4-mini": Member(hub_id="microsoft/Phi-4-mini-instruct",
                         preconverted="OpenVINO/Phi-4-mini-instruct-int4-ov",
                         build=build_tiny_phi4, specials={t: i for t, i in PHI4_SPECIALS.items() if t != "<|tool|>"},
                         eos_ids=PHI4_EOS_IDS),
}
