import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import phi3nb
from phi3nb import Phi3nbError, build_prompt, chat_messages, encode_chat, phi3_prompt

def test_cookbook_prompt_byte_for_byte():
    assert phi3_prompt("can you introduce yourself?") == (
        "<|system|>You are a helpful AI assistant.<|end|><|user|>can you introduce yourself?<|end|><|assistant|>")


def test_history_is_laid_out_turn_by_turn():
    p = phi3_prompt("and now?", history=[("hi", "hello")])
    assert p.endswith("<|user|>hi<|end|><|assistant|>hello<|end|><|user|>and now?<|end|><|assistant|>")
    assert phi3_prompt("x", system=None) == "<|user|>x<|end|><|assistant|>"


@pytest.fixture(scope="module")
def tok():
    from tiny_phi3 import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="module")
def member_tok(member_hf):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(member_hf)


def test_the_prompt_sent_is_the_models_format_with_its_own_special_ids(member, member_tok):
    """Phi-3 and 3.5 get the cookbook's prompt; Phi-4-mini's own template writes that same layout."""
    name, entry = member
    tok, tags = member_tok, entry.specials
    prompt = build_prompt(tok, "can you introduce yourself?")
    assert prompt == phi3nb.COOKBOOK_PROMPT
    if name == "phi-4-mini":
        assert prompt == tok.apply_chat_template(chat_messages("can you introduce yourself?"), tokenize=False,
                                                 add_generation_prompt=True)
    ids = tok(prompt, return_tensors="pt", **phi3nb.TOKENIZER_KWARGS)["input_ids"][0].tolist()
    assert ids[0] == tags["<|system|>"] and ids[-1] == tags["<|assistant|>"]
    assert ids.count(tags["<|end|>"]) == 2 and ids.count(tags["<|user|>"]) == 1
    assert {i for i in ids if i > 1000} <= set(tags.values())  # text is bytes here: no other model's tag ids
    assert tok.decode(ids) == prompt


def test_phi3_tokenizers_get_the_cookbook_format_others_their_template(tok):
    assert build_prompt(tok, "hi") == phi3_prompt("hi")
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"<unk>": 0, "hi": 1}, unk_token="<unk>"))
    chatml = PreTrainedTokenizerFast(tokenizer_object=backend, chat_template=(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"))
    assert build_prompt(chatml, "hi", system=None) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    chatml.chat_template = None
    with pytest.raises(Phi3nbError, match="chat"):
        build_prompt(chatml, "hi")


def test_encode_chat_matches_plain_tokenization_for_ordinary_text(tok):
    messages = chat_messages("can you introduce yourself?", history=[("hi", "hello there")])
    plain = tok(phi3_prompt("can you introduce yourself?", history=[("hi", "hello there")]),
                add_special_tokens=False)["input_ids"]
    assert encode_chat(tok, messages) == plain


@settings(max_examples=60, deadline=None)
@given(before=st.text(max_size=20), tag=st.sampled_from(["<|system|>", "<|end|>", "<|assistant|>", "<|user|>",
                                                          "<|endoftext|>"]), after=st.text(max_size=20))
def test_user_text_cannot_forge_turns(member, member_tok, before, tag, after):
    """Prompt injection: special-token text typed by a user stays text; the turns are the history's."""
    tok, tags = member_tok, member[1].specials
    special = set(tags.values())
    text = f"{before}{tag}{after}"
    ids = encode_chat(tok, chat_messages(text, history=[("q", "a")]))
    turns = ["<|system|>", "<|end|>", "<|user|>", "<|end|>", "<|assistant|>", "<|end|>", "<|user|>", "<|end|>",
             "<|assistant|>"]
    assert [i for i in ids if i in special] == [tags[t] for t in turns]
    # the cookbook's plain tokenization would have turned the tag into a special token
    assert set(tok(text, add_special_tokens=False)["input_ids"]) & special
    assert tag in tok.decode(ids)
