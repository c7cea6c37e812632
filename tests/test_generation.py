import json
import shutil
import threading

import pytest

import phi3nb
from phi3nb import Phi3nbError, generate_answer, stop_token_ids
from phi3nb.run.generation import check_sampling
from phi3nb.run.streaming import CallbackStreamer
from pinned import SAME_WORDS


def _copy_with_eos(src, dst, eos):
    """The tiny export with another end-of-sequence list in config.json and generation_config.json."""
    shutil.copytree(src, dst)
    for name in ("config.json", "generation_config.json"):
        data = json.loads((dst / name).read_text())
        data["eos_token_id"] = eos
        (dst / name).write_text(json.dumps(data))
    return dst


def test_phi3_end_of_turn_tags_are_stop_ids_even_if_the_config_lists_one_eos(tiny_phi3_ov, tmp_path):
    folder = _copy_with_eos(tiny_phi3_ov, tmp_path / "one-eos", 32000)
    model, tok = phi3nb.load_model(folder, device="CPU"), phi3nb.load_tokenizer(folder)
    assert {32000, 32001, 32007} <= set(stop_token_ids(model, tok))


@pytest.mark.parametrize("backend", ["optimum", "genai"])
def test_generation_ends_at_a_stop_id_on_both_backends(member_model, member_ov, tmp_path, backend):
    """Make the token the tiny model writes third a stop id: the reply must end right before it."""
    from phi3nb.run.genai import load_genai

    _, tok = member_model
    load = load_genai if backend == "genai" else phi3nb.load_model
    free = CallbackStreamer(tok, lambda piece: None)  # the same backend and precision with and without the stop
    generate_answer(load(member_ov, device="CPU", ov_config=SAME_WORDS), tok, phi3nb.COOKBOOK_PROMPT,
                    max_new_tokens=8, streamer=free)
    k = next(i for i in range(2, 8) if free.ids[i] not in free.ids[:i])
    folder = _copy_with_eos(member_ov, tmp_path / "stop", [free.ids[k]])
    stopped = CallbackStreamer(tok, lambda piece: None)
    reply = generate_answer(load(folder, device="CPU", ov_config=SAME_WORDS), tok, phi3nb.COOKBOOK_PROMPT,
                            max_new_tokens=8, streamer=stopped)
    assert stopped.ids == free.ids[:k] and stopped.stopped_at == free.ids[k]
    assert reply == tok.decode(free.ids[:k], skip_special_tokens=True)


def test_answer_is_only_the_new_text_unlike_the_cookbooks_decode(member_model):
    model, tok = member_model
    inputs = tok(phi3nb.COOKBOOK_PROMPT, return_tensors="pt", **phi3nb.TOKENIZER_KWARGS)
    cookbook_decoded = tok.batch_decode(model.generate(**inputs, max_new_tokens=8), skip_special_tokens=True)[0]
    ours = generate_answer(model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=8)
    assert cookbook_decoded.startswith("You are a helpful AI assistant.")  # the cookbook echoes its prompt
    assert ours and cookbook_decoded.endswith(ours) and "helpful AI assistant" not in ours


def test_streamed_pieces_add_up_to_the_answer(member_model):
    model, tok = member_model
    pieces = []
    answer = generate_answer(model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=12, streamer=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == answer


def test_token_ids_from_encode_chat_are_accepted(member_model):
    model, tok = member_model
    ids = phi3nb.encode_chat(tok, phi3nb.chat_messages(phi3nb.COOKBOOK_QUESTION))
    assert generate_answer(model, tok, ids, max_new_tokens=6) == generate_answer(
        model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=6)


def test_stop_event_ends_within_one_token(member_model):
    model, tok = member_model
    stop = threading.Event()
    stop.set()
    pieces = []
    generate_answer(model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=200, streamer=pieces.append, stop_event=stop)
    assert len(pieces) <= 1  # one piece per token: at most the token in flight when Stop was pressed


@pytest.mark.parametrize("prompt", ["", "   \n"])
def test_empty_prompt(tiny_model, prompt):
    with pytest.raises(Phi3nbError, match="empty"):
        generate_answer(*tiny_model, prompt)


def test_prompt_longer_than_the_context_says_by_how_much(tiny_model):
    model, tok = tiny_model
    window = model.config.max_position_embeddings
    ids = [100] * (window + 9)
    with pytest.raises(Phi3nbError, match="10 over") as info:
        generate_answer(model, tok, ids)
    assert "clear the chat history" in str(info.value)


@pytest.mark.parametrize("kwargs, fix", [
    ({"max_new_tokens": 0}, "positive whole number"),
    ({"max_new_tokens": -5}, "positive whole number"),
    ({"temperature": -0.1}, "0 for greedy"),
    ({"temperature": float("nan")}, "0 for greedy"),
    ({"top_p": 0}, "(0, 1]"),
    ({"top_p": 1.2}, "(0, 1]"),
    ({"top_k": -1}, ">= 0"),
    ({"top_k": 2.5}, ">= 0"),
    ({"repetition_penalty": 0}, "positive number"),
    ({"temprature": 0.7}, "use temperature"),
])
def test_bad_generation_settings_name_the_fix(kwargs, fix):
    kwargs = {"max_new_tokens": 16, **kwargs}
    with pytest.raises(Phi3nbError) as info:
        check_sampling(kwargs.pop("max_new_tokens"), kwargs)
    assert fix in str(info.value)


def test_temperature_zero_is_greedy_and_positive_samples():
    assert check_sampling(5, {"temperature": 0})["do_sample"] is False
    sampled = check_sampling(5, {"temperature": 0.7, "top_p": 0.9, "top_k": 40})
    assert sampled["do_sample"] is True and sampled["top_k"] == 40


def test_streamer_never_shows_half_a_character():
    from tiny_phi3 import build_tokenizer

    tok = build_tokenizer()
    text = "안녕하세요 😀 Phi-3! 🇰🇷"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)  # byte-level: characters really are split across tokens
    pieces = []
    streamer = CallbackStreamer(tok, pieces.append, skip_prompt=False)
    import torch

    for i in ids:
        streamer.put(torch.tensor([i]))
    streamer.end()
    assert "".join(pieces) == text and not any("\ufffd" in p for p in pieces)


def test_a_second_generate_while_one_runs_is_refused(tiny_model):
    model, tok = tiny_model
    started, release = threading.Event(), threading.Event()

    def slow(piece):
        started.set()
        release.wait(30)

    first = []
    worker = threading.Thread(target=lambda: first.append(generate_answer(
        model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=3, streamer=slow)))
    worker.start()
    assert started.wait(30)
    with pytest.raises(Phi3nbError, match="wait for it to finish"):
        generate_answer(model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=3)
    release.set()
    worker.join(30)
    assert not worker.is_alive() and first and first[0]  # the running one was not disturbed
    assert generate_answer(model, tok, phi3nb.COOKBOOK_PROMPT, max_new_tokens=3) == first[0]  # free again afterwards
