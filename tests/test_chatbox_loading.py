"""The chat box from second 0: it shows while the model loads in a background thread, with the load's lines,
keeps a message sent meanwhile and answers it once the model is ready; Stop, Clear and a failed load lose
nothing. Driven headless (set values, click), with a loader the test holds back and with real loads.
"""

import re
import threading

import pytest

import phi3nb
import phi3nb.chat.turn
import phi3nb.chat.box.widget as chatbox
from phi3nb import ChatBox, Phi3nbError, load_genai_in_background
from phi3nb.run.background import ModelLoad
from phi3nb.run.genai import GenaiModel
from test_chatbox import WAIT, enter, shown, until


class HeldLoad:
    """A loader that says what load_genai says, then waits for the test's go (`release()`) to return
    `model` or raise `error`: the test decides when the load ends, whatever the CPU's speed."""

    def __init__(self, model=None, error=None):
        self.model, self.error, self.gate = model, error, threading.Event()

    def __call__(self, report):
        report("loading int4 with openvino_genai on CPU, then warming it up...")
        assert self.gate.wait(WAIT), "the test never released the load"
        report("pipeline built in 0.1 s; warming up...")
        if self.error is not None:
            raise self.error
        report("loaded in 0.2 s (compiled: 0.1 s; warmed up: 0.1 s)")
        return self.model

    def release(self):
        self.gate.set()


class Generations:
    """Counts the turns that reach the model."""

    def __init__(self, monkeypatch):
        self.prompts = []
        real = phi3nb.chat.turn.generate_answer

        def counted(model, tokenizer, prompt, **kwargs):
            self.prompts.append(list(prompt))
            return real(model, tokenizer, prompt, **kwargs)

        monkeypatch.setattr(phi3nb.chat.turn, "generate_answer", counted)


def held_box(tiny_model, **loader):
    model, tok = tiny_model
    held = HeldLoad(model=model, **loader)
    box = ChatBox(ModelLoad(held), tok, max_new_tokens=4)
    assert until(lambda: "Loading int4 with openvino_genai on CPU" in box.load_line.value)
    return box, held


def test_a_message_sent_while_loading_is_kept_and_answered_once_ready(tiny_model, monkeypatch):
    calls = Generations(monkeypatch)
    box, held = held_box(tiny_model)
    assert "phi3nb-load-now" in box.load_line.value and box.model is None  # the clock runs on the last line
    box.input.value = "hello while loading"
    box.send.click()
    assert "hello while loading" in shown(box) and box.input.value == ""
    assert chatbox.QUEUED in shown(box) and box.send.disabled and not box.stop.disabled
    assert not box.wait(0) and calls.prompts == []
    enter(box, "a second one")  # Enter while the first waits: refused, the text stays
    assert until(lambda: chatbox.STILL_LOADING in shown(box)) and box.input.value == "a second one"
    held.release()
    assert box.wait(WAIT), "the waiting message was not answered"
    assert [q for q, _ in box.history] == ["hello while loading"] and len(calls.prompts) == 1
    [reply] = [m for m in box.messages if m.role == "assistant"]
    waited = re.search(r"waited ([\d.]+) s for the model to load", reply.stats)
    assert waited and "tokens/s" in reply.stats, reply.stats
    assert float(waited.group(1)) <= box.load.elapsed() + 0.05
    assert "Loaded in 0.2 s" in box.load_line.value and "phi3nb-load-now" not in box.load_line.value
    assert "Pipeline built" not in box.load_line.value  # a step under way, whose outcome the last line tells
    assert chatbox.QUEUED not in shown(box) and not box.send.disabled and box.input.value == "a second one"
    box.send.click()  # the next message goes straight to the model, and says nothing of waiting
    assert box.wait(WAIT) and len(box.history) == 2
    assert "waited" not in [m for m in box.messages if m.role == "assistant"][-1].stats


def test_stop_while_loading_gives_the_message_back(tiny_model, monkeypatch):
    calls = Generations(monkeypatch)
    box, held = held_box(tiny_model)
    box.input.value = "take it back"
    box.send.click()
    box.stop.click()
    assert box.wait(0) and box.input.value == "take it back" and "take it back" not in box.transcript_html()
    assert not box.send.disabled and box.stop.disabled and chatbox.QUEUED not in shown(box)
    held.release()
    assert box.load.wait(WAIT) and until(lambda: box.model is not None)
    assert calls.prompts == [] and box.history == []
    box.send.click()
    assert box.wait(WAIT) and [q for q, _ in box.history] == ["take it back"]


def test_clear_while_loading_forgets_the_waiting_message_at_once(tiny_model, monkeypatch):
    calls = Generations(monkeypatch)
    box, held = held_box(tiny_model)
    box.input.value = "forget me"
    box.send.click()
    box.clear.click()  # returns without waiting for the load
    assert box.wait(0) and box.input.value == "" and "forget me" not in shown(box)
    assert not box.send.disabled and "Loading int4" in box.load_line.value
    held.release()
    assert until(lambda: box.model is not None) and box.wait(WAIT)
    assert calls.prompts == [] and box.history == [] and box.messages == []


def test_a_failed_load_shows_its_error_and_the_waiting_message_goes_back(tiny_model):
    error = Phi3nbError("No model folder at ./model: run step 1 to export it.")
    box, held = held_box(tiny_model, error=error)
    box.input.value = "are you there?"
    box.send.click()
    held.release()
    assert box.wait(WAIT)
    assert "No model folder at ./model: run step 1 to export it." in shown(box)
    assert "back in the box" in shown(box) and box.input.value == "are you there?"
    assert "did not load" in box.load_line.value and box.last_error is error
    assert [m.role for m in box.messages] == ["error"] and box.send.disabled and box.stop.disabled
    enter(box)  # Enter still reaches the box: it says why nothing happens, and keeps the text
    assert until(lambda: chatbox.NOT_LOADED in shown(box)) and box.input.value == "are you there?"
    assert box.wait(0) and box.history == []


def test_a_load_that_ended_before_the_box_was_made_is_used_at_once(tiny_model):
    model, tok = tiny_model
    load = ModelLoad(lambda report: (report("loaded in 0.0 s (compiled: 0.0 s; warmed up: 0.0 s)"), model)[1])
    assert load.wait(WAIT)
    box = ChatBox(load, tok, max_new_tokens=4)
    assert box.model is model and "Loaded in 0.0 s" in box.load_line.value
    box.input.value = "hi"
    box.send.click()
    assert box.wait(WAIT) and len(box.history) == 1 and chatbox.QUEUED not in shown(box)


# -- real loads: load_genai in the background --------------------------------------------------------

def test_a_real_background_load_shows_load_genais_lines_and_answers(tiny_phi3_ov, tiny_model):
    """However fast the CPU, the reply comes, and the box ends up showing what load_genai said."""
    box = ChatBox(load_genai_in_background(tiny_phi3_ov, "CPU"), tiny_model[1], max_new_tokens=4)
    box.input.value = "hello"
    box.send.click()  # maybe before the model is ready, maybe after: both must answer
    assert box.wait(WAIT) and box.load.done
    assert isinstance(box.model, GenaiModel) and box.context == 4096
    assert [q for q, _ in box.history] == ["hello"] and "tokens/s" in shown(box)
    line = box.load_line.value
    assert "Loading int4 with openvino_genai on CPU" in line and "Pipeline built in" not in line  # a step done
    assert re.search(r"Loaded in [\d.]+ s \(compiled: [\d.]+ s; warmed up: [\d.]+ s\)", line), line


def test_a_real_background_load_of_a_missing_folder_shows_the_phi3nb_error(tmp_path, tiny_model):
    box = ChatBox(load_genai_in_background(tmp_path / "never-exported", "CPU"), tiny_model[1])
    assert box.load.wait(WAIT) and until(lambda: box.messages)
    assert isinstance(box.last_error, Phi3nbError) and "never-exported" in shown(box)
    assert "phi3nb-error" in box.transcript_html() and box.send.disabled
    with pytest.raises(Phi3nbError):
        box.load.result(0)

