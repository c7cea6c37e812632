"""One chat turn for the chat box and `phi3nb chat`: history kept on errors, why a reply ended,
and no half character in any reply, however it was cut."""

import threading

import pytest

import phi3nb
from phi3nb import ChatBox, Phi3nbError
from phi3nb.chat.turn import chat_turn
from phi3nb.cli import main
from phi3nb.cookbook import COOKBOOK_SYSTEM
from phi3nb.run.streaming import CallbackStreamer, decode_complete

HISTORY = [("first question", "first answer"), ("second question", "second answer")]


def test_an_over_long_message_is_refused_and_every_earlier_turn_survives(member_model):
    history = list(HISTORY)
    with pytest.raises(Phi3nbError, match="over what the model's context window"):
        chat_turn(*member_model, history, "too long " * 200, system=COOKBOOK_SYSTEM, max_new_tokens=4, context=300)
    assert history == HISTORY
    turn = chat_turn(*member_model, history, "short", system=COOKBOOK_SYSTEM, max_new_tokens=4, context=300)
    assert turn.dropped == 0 and history[:2] == HISTORY and history[2] == ("short", turn.reply)


def test_chatbox_keeps_its_history_after_an_over_long_message(member_model):
    box = ChatBox(*member_model, context=300, max_new_tokens=4)
    box.history = list(HISTORY)
    box.input.value = "too long " * 200
    box.send.click()
    assert box.wait(60) and isinstance(box.last_error, Phi3nbError)
    assert box.history == HISTORY


def test_terminal_chat_keeps_its_history_after_an_over_long_message(member_ov, monkeypatch, capsys, typed):
    import phi3nb.chat.turn as chat

    seen = []
    real = chat.generate_answer
    monkeypatch.setattr(chat, "generate_answer", lambda m, t, ids, **kw: seen.append(list(ids)) or real(m, t, ids, **kw))
    typed("hello", "too long " * 70000, "and again")  # over 131,072 tokens: Phi-3.5/4-mini's context
    assert main(["chat", str(member_ov), "--max-new-tokens", "4"]) == 0
    assert "over what the model's context window" in capsys.readouterr().out
    assert len(seen) == 2 and seen[1][: len(seen[0])] == seen[0]  # the third turn still carries the first


def test_the_stats_say_why_a_reply_ended(member_model):
    history = []
    turn = chat_turn(*member_model, history, "hi", system=COOKBOOK_SYSTEM, max_new_tokens=3)
    assert turn.finish == "length" and turn.tokens == 3 and turn.stats().endswith("max tokens reached")
    stop = threading.Event()
    stop.set()
    turn = chat_turn(*member_model, history, "hi", system=COOKBOOK_SYSTEM, max_new_tokens=50, stop_event=stop)
    assert turn.finish == "stopped" and turn.stats().endswith("stopped")
    prompt = len(phi3nb.encode_chat(member_model[1], phi3nb.chat_messages("hi", COOKBOOK_SYSTEM)))
    turn = chat_turn(*member_model, [], "hi", system=COOKBOOK_SYSTEM, max_new_tokens=3, context=prompt + 2)
    assert turn.finish == "context" and turn.tokens == 2 and "context window full" in turn.stats()


def test_a_turn_never_lists_the_whole_vocabulary(member_model, monkeypatch):
    """Phi-4-mini's vocabulary has some 200,000 tokens: a turn finds its tags without building a dict of them all."""
    model, tok = member_model

    def listed(self):
        raise AssertionError("get_vocab() was called during a chat turn")

    monkeypatch.setattr(type(tok), "get_vocab", listed)
    turn = chat_turn(model, tok, [("q", "a")], "hi", system=COOKBOOK_SYSTEM, max_new_tokens=2)
    assert turn.tokens >= 1


def test_decode_complete_drops_only_a_trailing_half_character():
    from tiny_phi3 import build_tokenizer

    tok = build_tokenizer()
    text = "안녕 😀👩‍💻 ok"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    cut_inside = 0
    for k in range(1, len(ids) + 1):
        pieces = []
        streamer = CallbackStreamer(tok, pieces.append, skip_prompt=False)
        for i in ids[:k]:
            streamer.add([i])
        streamer.end()
        whole = decode_complete(tok, ids[:k])
        assert "\ufffd" not in whole and text.startswith(whole) and "".join(pieces) == whole
        cut_inside += tok.decode(ids[:k]).endswith("\ufffd")
    assert cut_inside >= 5  # the cuts really do fall inside characters


@pytest.fixture
def embedded_backends(embedded_tokenizer, embedded_genai, embedded_optimum):
    """Both backends on the embedded model, pinned to SAME_WORDS: the same reply on every x86 CPU."""
    return embedded_tokenizer, {"genai": embedded_genai, "optimum": embedded_optimum}


@pytest.mark.parametrize("backend", ["genai", "optimum"])
def test_no_reply_ends_in_half_a_character_at_any_cut(embedded_backends, backend):
    tok, models = embedded_backends
    ids = phi3nb.encode_chat(tok, phi3nb.chat_messages("Reply with only emoji and Korean: 안녕하세요 😀👩‍💻"))
    cut_inside = 0
    for k in range(1, 41):
        pieces = []
        streamer = CallbackStreamer(tok, pieces.append)
        reply = phi3nb.generate_answer(models[backend], tok, ids, max_new_tokens=k, streamer=streamer)
        whole = tok.decode(streamer.ids, skip_special_tokens=True)
        # a U+FFFD inside the reply is the model's own (it can write a lone byte: "어� front"); only a
        # character cut at the end is dropped, and the pieces shown join to the reply
        assert not reply.endswith("\ufffd") and reply == whole.rstrip("\ufffd"), (k, reply, whole)
        assert "".join(pieces) == reply, (k, reply, pieces)
        cut_inside += whole.endswith("\ufffd")
    assert cut_inside >= 3, "no cut fell inside a character: the prompt no longer tests what it names"
