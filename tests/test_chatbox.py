"""ChatBox driven headless, as ipywidgets' own tests drive widgets: set values, click, wait.

The tiny random Phi-3 (noise, fast) checks the mechanics; the embedded SmolLM2 checks real text.
"""

import html
import re
import threading
import time

import pytest

import phi3nb
import phi3nb.chat.turn
import phi3nb.chat.box.controls as chat_controls
import phi3nb.chat.box.worker as chat_worker
import phi3nb.chat.box.widget as chatbox
from phi3nb import ChatBox, Phi3nbError, chat_messages, encode_chat

WAIT = 120  # seconds; only a hang would reach it


@pytest.fixture
def embedded_model(embedded_optimum, embedded_tokenizer):
    return embedded_optimum, embedded_tokenizer


class Calls:
    """Wraps chatbox.generate_answer: records each prompt and streamed piece, optionally hooks pieces."""

    def __init__(self, monkeypatch, on_piece=None, before=None):
        self.prompts, self.pieces, self.kwargs = [], [], []
        self.on_piece, self.before = on_piece, before
        real = phi3nb.chat.turn.generate_answer

        def fake(model, tokenizer, prompt, *, streamer, **kwargs):
            self.prompts.append(list(prompt))
            self.kwargs.append(kwargs)
            if self.before:
                self.before()

            show = streamer.on_text

            def piece(text):
                self.pieces.append(text)
                show(text)
                if self.on_piece:
                    self.on_piece(text)

            streamer.on_text = piece
            return real(model, tokenizer, prompt, streamer=streamer, **kwargs)

        monkeypatch.setattr(phi3nb.chat.turn, "generate_answer", fake)


def html_widgets(box) -> list:
    """Every HTML widget in the chat box that shows something, in order (a bare style sheet shows nothing)."""
    import ipywidgets as w

    def walk(widget):
        if isinstance(widget, w.HTML) and not re.fullmatch(r"(?s)<style>.*</style>", widget.value):
            yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    return list(walk(box.widget))


def shown(box) -> str:
    """What a person sees: the chat box's HTML, in order."""
    return re.sub(r"(?s)<style>.*?</style>", "", "".join(h.value for h in html_widgets(box)))


def say(box, text):
    box.input.value = text
    box.send.click()
    assert box.wait(WAIT), "the reply did not finish"


def expected_ids(box, text, history):
    return encode_chat(box.tokenizer, chat_messages(text, box.system, history))


# -- tiny Phi-3: mechanics -----------------------------------------------------------------------

def test_reply_lands_in_history_and_pane_and_second_turn_sees_the_first(member_model, monkeypatch):
    calls = Calls(monkeypatch)
    box = ChatBox(*member_model, max_new_tokens=8)
    view = box._repr_mimebundle_()["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == box.widget.model_id  # display(box) shows the VBox
    say(box, "first question")
    assert len(box.history) == 1 and box.history[0][0] == "first question"
    assert box.history[0][1] == "".join(calls.pieces)
    assert "first question" in shown(box) and "tokens/s" in shown(box)
    assert box.input.value == "" and not box.send.disabled and box.stop.disabled
    say(box, "second question")
    assert calls.prompts[1] == expected_ids(box, "second question", [box.history[0]])
    assert [q for q, _ in box.history] == ["first question", "second question"]


def test_enter_sends_but_leaving_the_box_does_not(tiny_model, monkeypatch):
    """The front end sends {"event": "submit"} on Enter, then the value (continuous_update=False)."""
    calls = Calls(monkeypatch)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    box.input.set_state({"value": "typed, then clicked elsewhere"})  # blur: value only
    assert box.wait(0) and calls.prompts == [] and box.input.value == "typed, then clicked elsewhere"
    box.input._handle_custom_msg({"event": "submit"}, [])
    box.input.set_state({"value": "hello by Enter"})
    assert box.wait(WAIT)
    assert [q for q, _ in box.history] == ["hello by Enter"] and len(calls.prompts) == 1


def until(condition, timeout=WAIT) -> bool:
    """True as soon as `condition()` holds, False if it still does not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def enter(box, value=None):
    """What the front end sends on Enter: "submit", then the value only if it changed since the last one."""
    box.input._handle_custom_msg({"event": "submit"}, [])
    if value is not None:
        box.input.set_state({"value": value})


def test_a_quick_double_enter_sends_once_and_arms_nothing_for_a_later_blur(tiny_model, monkeypatch):
    calls = Calls(monkeypatch)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    enter(box, "hello")
    enter(box)  # the second Enter of a quick double Enter: the box is already empty, no value follows
    assert box.wait(WAIT)
    assert until(lambda: box._enter.pending is None), "an Enter's wait for its value never ended"
    box.input.set_state({"value": "typed after the double Enter"})  # the user types on, then clicks elsewhere
    assert box._enter.pending is None  # the value of a blur arms nothing that could send it later
    assert box.wait(WAIT) and [q for q, _ in box.history] == ["hello"] and len(calls.prompts) == 1
    assert box.input.value == "typed after the double Enter"


def test_enter_on_text_kept_after_a_refusal_sends_it(tiny_model, monkeypatch):
    gate, started = threading.Event(), threading.Event()
    calls = Calls(monkeypatch, before=lambda: (started.set(), gate.wait(WAIT)))
    box = ChatBox(*tiny_model, max_new_tokens=4)
    enter(box, "first")
    assert started.wait(WAIT)
    enter(box, "too early")  # refused: still answering
    assert until(lambda: chatbox.BUSY in shown(box)) and box.input.value == "too early"
    gate.set()
    assert box.wait(WAIT)
    enter(box)  # Enter again on the kept text: unchanged, so no value follows the submit
    assert until(lambda: len(box.history) >= 2)
    assert box.wait(WAIT) and [q for q, _ in box.history] == ["first", "too early"]
    assert len(calls.prompts) == 2 and box.input.value == ""


def test_the_busy_note_is_gone_when_the_reply_ends(tiny_model, monkeypatch):
    gate, started = threading.Event(), threading.Event()
    Calls(monkeypatch, before=lambda: (started.set(), gate.wait(WAIT)))
    box = ChatBox(*tiny_model, max_new_tokens=4)
    box.input.value = "first"
    box.send.click()
    assert started.wait(WAIT)
    box.input.value = "too early"
    box._on_send()  # Enter while answering (Send is disabled then)
    assert chatbox.BUSY in shown(box)
    gate.set()
    assert box.wait(WAIT)
    assert chatbox.BUSY not in shown(box) and "tokens/s" in shown(box)


def test_streaming_re_renders_only_the_reply_being_written(tiny_model, monkeypatch):
    """What a person reads or selects in earlier messages is never replaced while a reply streams."""
    monkeypatch.setattr(chat_worker, "RENDER_EVERY", 0)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    say(box, "first question")
    before = {id(h): (h, h.value) for h in html_widgets(box) if "first question" in h.value
              or "phi3nb-assistant" in h.value or "tokens/s" in h.value}
    assert before
    changed = []

    def check(_piece):
        now = {id(h) for h in html_widgets(box)}
        changed.extend(v for k, (h, v) in before.items() if k not in now or h.value != v)

    Calls(monkeypatch, on_piece=check)
    box.max_new_tokens.value = 12
    say(box, "second question")
    assert box.history[1][1], "the second reply streamed nothing: the check saw no streaming"
    assert changed == [], "an earlier message was re-rendered while the reply streamed"


def test_copy_regenerate_system_prompt_and_examples(tiny_model, monkeypatch):
    import json

    calls = Calls(monkeypatch)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    box.examples[1].click()  # an example fills the box; it does not send
    assert box.input.value == chat_controls.EXAMPLES[1] and box.wait(0)
    box.system_prompt.value = "You are a pirate."
    say(box, "hello")
    assert calls.prompts[0] == expected_ids(box, "hello", []) and box.system == "You are a pirate."
    first_reply = box.history[0][1]
    [reply] = [m for m in box.messages if m.role == "assistant"]
    reply.copy.click()
    [out] = box._clipboard.output.outputs
    assert json.dumps(first_reply) in out["data"]["application/javascript"]
    assert "navigator.clipboard.writeText" in out["data"]["application/javascript"]
    box.temperature.value = 0.7
    box.regenerate.click()
    assert box.wait(WAIT)
    assert calls.prompts[1] == calls.prompts[0]  # the same question after the same (empty) history
    assert [q for q, _ in box.history] == ["hello"]
    assert [m.role for m in box.messages] == ["user", "assistant"]
    assert box.messages[1].text == box.history[0][1]


def test_advanced_greys_out_unused_settings_explains_each_and_resets(tiny_model):
    box = ChatBox(*tiny_model, max_new_tokens=64)
    sliders = [box.temperature, box.top_p, box.top_k, box.repetition_penalty, box.max_new_tokens]
    assert all(s.tooltip for s in sliders)
    assert box.top_p.disabled and box.top_k.disabled  # temperature 0: greedy, they are ignored
    box.temperature.value = 0.7
    assert not box.top_p.disabled and not box.top_k.disabled
    box.top_k.value, box.max_new_tokens.value, box.system_prompt.value = 5, 9, "Be brief."
    box.reset_settings.click()
    assert (box.temperature.value, box.top_k.value, box.max_new_tokens.value) == (0.0, 50, 64)
    assert box.system == box.system_prompt.value == phi3nb.COOKBOOK_SYSTEM and box.top_p.disabled


def test_send_while_streaming_is_refused_and_double_click_starts_one_reply(tiny_model, monkeypatch):
    gate, started = threading.Event(), threading.Event()
    calls = Calls(monkeypatch, before=lambda: (started.set(), gate.wait(WAIT)))
    box = ChatBox(*tiny_model, max_new_tokens=4)
    box.input.value = "only once"
    box.send.click()
    box.send.click()  # the double click's second half: the box is already empty
    assert started.wait(WAIT)
    assert not box.wait(0), "Send must return while the reply runs in a worker thread"
    assert box.send.disabled
    box.input.value = "too early"
    box.send.click()
    assert chatbox.BUSY in shown(box) and box.input.value == "too early"
    gate.set()
    assert box.wait(WAIT)
    assert len(calls.prompts) == 1 and [q for q, _ in box.history] == ["only once"]
    assert shown(box).count("phi3nb-user") == 1


def test_clear_starts_over(tiny_model, monkeypatch):
    calls = Calls(monkeypatch)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    say(box, "remember this")
    box.clear.click()
    assert box.history == [] and "remember this" not in shown(box)
    say(box, "fresh start")
    assert calls.prompts[-1] == expected_ids(box, "fresh start", [])


def test_oldest_turns_are_dropped_token_exactly_with_a_note(member_model, monkeypatch):
    calls = Calls(monkeypatch)
    max_new = 4
    turns = [(f"question {i}", f"answer {i} " + "x" * 10 * i) for i in range(5)]
    probe = ChatBox(*member_model, max_new_tokens=max_new)
    # the context where exactly the two oldest turns must go: one token less drops a third
    context = len(expected_ids(probe, "now", turns[2:])) + max_new
    box = ChatBox(*member_model, context=context, max_new_tokens=max_new)
    box.history = list(turns)
    say(box, "now")
    assert calls.prompts[0] == expected_ids(box, "now", turns[2:])
    assert len(calls.prompts[0]) + max_new == context
    assert "Dropped 2 oldest turns to fit the context" in shown(box)
    assert box.history[:3] == turns[2:] and box.history[3][0] == "now"


def test_errors_show_in_the_pane_and_the_box_stays_usable(member_model, monkeypatch):
    box = ChatBox(*member_model, context=200, max_new_tokens=4)
    say(box, "too long " * 40)
    assert "over what the model" in shown(box) and isinstance(box.last_error, Phi3nbError)
    assert box.history == [] and not box.send.disabled
    assert box.input.value == ("too long " * 40).strip() and "back in the box" in shown(box)  # to shorten it

    def boom(*args, **kwargs):
        raise RuntimeError("device lost")

    with monkeypatch.context() as m:
        m.setattr(phi3nb.chat.turn, "generate_answer", boom)
        say(box, "hi")
    assert "RuntimeError: device lost" in shown(box) and box.history == [] and box.input.value == "hi"
    say(box, "hi again")
    assert [q for q, _ in box.history] == ["hi again"]


def test_html_in_messages_and_replies_is_shown_as_text(tiny_model, monkeypatch):
    evil = '<img src=x onerror=alert(1)> <script>alert(2)</script> [link](javascript:alert(3))'

    def reply(model, tokenizer, prompt, *, streamer, **kwargs):
        streamer.on_text(evil)
        return evil

    box = ChatBox(*tiny_model, max_new_tokens=4)
    monkeypatch.setattr(phi3nb.chat.turn, "generate_answer", reply)
    say(box, evil)
    page = shown(box).lower()
    assert "<img" not in page and "<script" not in page and 'href="javascript' not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 2
    assert page.count("&lt;script&gt;alert(2)&lt;/script&gt;") == 2


def test_sampling_settings_reach_generate(tiny_model, monkeypatch):
    calls = Calls(monkeypatch)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    box.temperature.value, box.top_p.value, box.top_k.value, box.repetition_penalty.value = 0.7, 0.5, 7, 1.3
    say(box, "sample")
    sent = {k: v for k, v in calls.kwargs[0].items() if k not in ("stop_event", "on_status")}
    assert sent == {"max_new_tokens": 4, "temperature": 0.7, "top_p": 0.5, "top_k": 7, "repetition_penalty": 1.3}


# -- embedded SmolLM2: real text ---------------------------------------------------------------

def test_embedded_two_turn_conversation_streams_into_the_pane(embedded_model, monkeypatch):
    monkeypatch.setattr(chat_worker, "RENDER_EVERY", 0)
    box = ChatBox(*embedded_model, max_new_tokens=24)
    seen = []
    calls = Calls(monkeypatch, on_piece=lambda _: seen.append(shown(box)))
    say(box, "What is the capital of France?")
    assert "Paris" in box.history[0][1]
    assert len(set(seen)) > 3 and all("▌" in v for v in seen), "the pane grows while tokens stream"
    assert "▌" not in shown(box) and "Paris" in shown(box)
    say(box, "And of Germany?")
    assert calls.prompts[1] == expected_ids(box, "And of Germany?", box.history[:1])
    assert "Berlin" in box.history[1][1]


def test_stop_ends_within_one_token_and_keeps_the_partial_reply(embedded_model, monkeypatch):
    box = ChatBox(*embedded_model, max_new_tokens=2000)
    after_stop = []
    calls = Calls(monkeypatch, on_piece=lambda p: after_stop.append(p) if box._stop_event.is_set()
                  else box.stop.click())
    say(box, "Write a very long story about a dragon.")
    reply = box.history[0][1]
    assert reply and reply == "".join(calls.pieces) and len(after_stop) <= 1
    assert "stopped" in shown(box) and reply.split()[0] in shown(box)


def test_stop_while_the_model_reads_the_prompt_says_it_stops_at_the_first_word(embedded_model, monkeypatch):
    """Nothing interrupts the reading of a prompt (seconds at full size, a minute for a pasted document): Stop
    pressed then says so at once, and the reply ends at its first word."""
    box = ChatBox(*embedded_model, max_new_tokens=2000)
    seen = {}

    def press_stop_before_the_first_token():
        box.stop.click()
        seen["status"], seen["stop disabled"] = box.status.value, box.stop.disabled

    calls = Calls(monkeypatch, before=press_stop_before_the_first_token)
    say(box, "Write a very long story about a dragon.")
    assert chatbox.STOPPING in html.unescape(seen["status"]) and seen["stop disabled"]
    assert len(calls.pieces) <= 1 and "stopped" in shown(box)
    assert box.status.value == "" and box.replying is None and box.stop.disabled
    say(box, "Hello")  # a Stop while streaming says nothing of reading: the reply is past it

    def press_stop_while_streaming(piece):
        if not box._stop_event.is_set():
            box.stop.click()
            seen["streaming"] = box.status.value

    calls.before, calls.on_piece = None, press_stop_while_streaming
    say(box, "Write a very long story about a cat.")
    assert seen["streaming"] == "" and "stopped" in shown(box)


def test_korean_streams_without_replacement_characters(embedded_model, monkeypatch):
    calls = Calls(monkeypatch)
    box = ChatBox(*embedded_model, max_new_tokens=24)
    say(box, "Say hello in Korean. 안녕하세요 😀")
    reply = box.history[0][1]
    assert any("\uac00" <= c <= "\ud7a3" for c in reply), f"no Hangul to check: {reply!r}"
    assert "\ufffd" not in shown(box) and not any("\ufffd" in p for p in calls.pieces)
    assert "안녕하세요 😀" in shown(box)


def test_a_failed_regenerate_puts_the_reply_back_and_keeps_the_buttons(tiny_model, monkeypatch):
    """The transcript keeps showing what the model sees: box.history still holds the turn a failed Regenerate
    was to replace, so its reply comes back, with Regenerate to try again."""
    box = ChatBox(*tiny_model, max_new_tokens=4)
    say(box, "hello")
    reply = box.history[0][1]

    def boom(*args, **kwargs):
        raise RuntimeError("device lost")

    with monkeypatch.context() as m:
        m.setattr(phi3nb.chat.turn, "generate_answer", boom)
        box.regenerate.click()
        assert box.wait(WAIT)
    assert box.history == [("hello", reply)]
    assert [m.role for m in box.messages] == ["user", "assistant", "error"]
    assert box.messages[1].text == reply and "tokens/s" in box.messages[1].stats
    assert "RuntimeError: device lost" in shown(box)
    assert not box.regenerate.disabled and not box.send.disabled and box.stop.disabled
    box.regenerate.click()  # and it works again once the device is back
    assert box.wait(WAIT)
    assert [m.role for m in box.messages] == ["user", "error", "assistant"]
    assert box.messages[-1].text == box.history[0][1] and len(box.history) == 1


def test_the_status_line_says_while_a_longrope_model_re_reads_the_conversation(tiny_model, monkeypatch):
    """A reply that crosses a LongRoPE switch first re-reads the whole conversation (seconds to minutes): the
    box says so while it happens, then the line goes."""
    from phi3nb.run.rope_switch import finish_recompute, report_recompute

    real, seen, done = chat_worker.chat_turn, threading.Event(), threading.Event()

    def crossing(*args, on_status=None, **kwargs):
        work = report_recompute(on_status, 5000)
        assert seen.wait(WAIT), "the test never saw the status line"
        finish_recompute(on_status, work)
        done.set()
        return real(*args, on_status=on_status, **kwargs)

    monkeypatch.setattr(chat_worker, "chat_turn", crossing)
    box = ChatBox(*tiny_model, max_new_tokens=4)
    box.input.value = "hello"
    box.send.click()
    deadline = time.monotonic() + WAIT
    while "re-reading the 5,000 tokens" not in box.status.value and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "re-reading the 5,000 tokens" in shown(box) and "long rotary factors" in shown(box)
    box.stop.click()  # the re-read cannot be cut short: the line says the reply stops once it is done
    while "stopping at the reply" not in box.status.value and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "re-reading the 5,000 tokens" in shown(box) and "stopping at the reply's first word" in html.unescape(shown(box))
    seen.set()
    assert done.wait(WAIT) and box.wait(WAIT)
    assert "re-reading" not in shown(box) and box.history and box.last_error is None
    assert box.messages[-1].text.count(" ") <= 1 and "stopped" in shown(box)
