"""Phi-3-mini's special tokens and chat template, and an offline byte-level tokenizer that has them.

The random stand-ins (the bench's slices and full-size model, the tests' tiny Phi-3) use it, so
prompt handling, stop ids and chat formatting run as for microsoft/Phi-3-mini-4k-instruct.
"""

# Ids as in the model's tokenizer.json (added_tokens); 0-2 are Llama's <unk>, <s>, </s>.
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
PHI3_BOS, PHI3_EOS, PHI3_PAD = 1, 32000, 32000  # config.json's bos/eos/pad_token_id

# Phi-3-mini-4k-instruct's chat template (tokenizer_config.json of the model on the hub).
PHI3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)


def phi3_tokenizer(merges=True):
    """Byte-level BPE with Phi-3's ids: 0-2 Llama's, 32000-32010 Phi-3's specials, fillers between.

    merges=True adds letter-pair merges ("Ġt", "th", ...): llama.cpp's GGUF needs some, so the bench's
    stand-ins have them; without them every byte is a token.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[ch] = len(vocab)
    letters = "abcdefghijklmnopqrstuvwxyz"
    pairs = [(a, b) for a in "\u0120" + letters for b in letters] if merges else []
    for a, b in pairs:
        vocab[a + b] = len(vocab)
    while len(vocab) < PHI3_EOS:
        vocab[f"<filler{len(vocab)}>"] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=pairs, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(PHI3_SPECIALS))
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="<|endoftext|>",
                                  unk_token="<unk>", pad_token="<|endoftext|>", chat_template=PHI3_CHAT_TEMPLATE,
                                  model_max_length=4096)
    wrong = {t: tok.convert_tokens_to_ids(t) for t, i in PHI3_SPECIALS.items() if tok.convert_tokens_to_ids(t) != i}
    if wrong:
        raise RuntimeError(f"Phi-3's special tokens got other ids: {wrong}")
    return tok
