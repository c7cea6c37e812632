"""openvino_genai's LLMPipeline behind generate_answer: same answers as the cookbook's path, same guarantees."""

import threading

import pytest

import phi3nb
from phi3nb import Phi3nbError, generate_answer
from phi3nb.genai_backend import load_genai
from phi3nb.cookbook import F32_HINT

F32 = F32_HINT  # this CPU defaults to bf16; f32 makes both paths comparable


@pytest.fixture(scope="module")
def embedded():
    path = phi3nb.prepare_embedded_model()
    tok = phi3nb.load_tokenizer(path)
    return path, tok, load_genai(path, device="CPU", ov_config=F32)


def test_genai_and_optimum_give_the_same_greedy_answer(embedded):
    path, tok, genai = embedded
    optimum = phi3nb.load_model(path, device="CPU", ov_config=F32)
    ids = phi3nb.encode_chat(tok, phi3nb.chat_messages("What is the capital of France?"))
    a = generate_answer(genai, tok, ids, max_new_tokens=24)
    b = generate_answer(optimum, tok, ids, max_new_tokens=24)
    assert a == b and "Paris" in a


def test_streams_stops_on_eos_and_a_follow_up_turn_reuses_history(embedded):
    path, tok, genai = embedded
    pieces = []
    first = generate_answer(genai, tok, phi3nb.encode_chat(tok, phi3nb.chat_messages("Say hello.")),
                            max_new_tokens=200, streamer=pieces.append)
    assert "".join(pieces) == first and "<|im_end|>" not in first
    assert len(tok(first)["input_ids"]) < 200  # stopped by itself at <|im_end|>
    second = phi3nb.encode_chat(tok, phi3nb.chat_messages("Now say it in French.", history=[("Say hello.", first)]))
    assert generate_answer(genai, tok, second, max_new_tokens=40)


def test_stop_event_and_limits_apply(embedded):
    _, tok, genai = embedded
    stop, pieces = threading.Event(), []
    stop.set()
    generate_answer(genai, tok, "Count to one hundred.", max_new_tokens=300, streamer=pieces.append, stop_event=stop)
    assert len(pieces) <= 1
    with pytest.raises(Phi3nbError, match="over"):
        generate_answer(genai, tok, [100] * 9000)
    with pytest.raises(Phi3nbError, match="top_p"):
        generate_answer(genai, tok, "hi", top_p=3)


def test_sampling_settings_are_accepted(embedded):
    _, tok, genai = embedded
    text = generate_answer(genai, tok, phi3nb.build_prompt(tok, "Name a colour."), max_new_tokens=12,
                           temperature=0.7, top_p=0.9, top_k=40, repetition_penalty=1.1)
    assert text.strip()


def test_chatbox_runs_on_genai(embedded):
    _, tok, genai = embedded
    box = phi3nb.ChatBox(genai, tok, max_new_tokens=24)
    box.input.value = "What is the capital of France?"
    box.send.click()
    assert box.wait(120) and box.last_error is None
    assert "Paris" in box.history[0][1] and "tokens/s" in box.transcript_html()
