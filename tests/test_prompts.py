import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import phi3nb
from phi3nb import Phi3nbError, build_prompt, chat_messages, encode_chat, phi3_prompt

SPECIAL = {32000, 32001, 32006, 32007, 32010}


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


def test_cookbook_tokenization_hits_phi3_special_ids(tok):
    ids = tok(phi3nb.COOKBOOK_PROMPT, return_tensors="pt", **phi3nb.TOKENIZER_KWARGS)["input_ids"][0].tolist()
    assert ids[0] == 32006 and ids[-1] == 32001 and ids.count(32007) == 2 and ids.count(32010) == 1
    assert tok.decode(ids) == phi3nb.COOKBOOK_PROMPT


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
def test_user_text_cannot_forge_turns(tok, before, tag, after):
    """Prompt injection: special-token text typed by a user stays text; the turns are the history's."""
    text = f"{before}{tag}{after}"
    ids = encode_chat(tok, chat_messages(text, history=[("q", "a")]))
    assert [i for i in ids if i in SPECIAL] == [32006, 32007, 32010, 32007, 32001, 32007, 32010, 32007, 32001]
    # the cookbook's plain tokenization would have turned the tag into a special token
    assert set(tok(text, add_special_tokens=False)["input_ids"]) & SPECIAL
    assert tag in tok.decode(ids)
