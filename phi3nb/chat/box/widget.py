"""Step 11: chat with the model inside the notebook, like openvino_notebooks' llm-chatbot, with ipywidgets.

The box is put together from parts: the transcript (transcript.py), the input and buttons (controls.py),
the Advanced settings (settings.py), Enter (enter_key.py), the reply's worker thread (worker.py), Copy
(clipboard.py) and a model still loading (loading.py). How a message looks is in html.py.
"""

import threading
import time

from .html import CSS, load_html, markdown_renderer, status_html
from .transcript import Transcript
from .controls import NAMES as CONTROLS, Controls
from .settings import NAMES as SETTINGS, SAMPLING_DEFAULTS, Settings
from .worker import describe, run_reply, GIVEN_BACK
from ...run.background import ModelLoad
from .clipboard import Clipboard
from ...cookbook import COOKBOOK_SYSTEM
from .enter_key import EnterKey
from ...run.generation import context_window

BUSY = "Still answering the last message: wait for it, or press Stop."
QUEUED = "Your message is answered as soon as the model is loaded; Stop takes it back."
STILL_LOADING = "Still loading the model, and your message above goes first: wait for it, or press Stop."
STOPPING = ("Stopping: the model is still reading the prompt, which it does in one go (a long one takes a while); "
            "the reply stops at its first word.")
NOT_LOADED = "The model did not load (the error is above): do what it says, then run this cell again."
TICK = 1.0  # seconds between updates of the load line's clock


class ChatBox:
    """A chat widget: `display(ChatBox(model, tokenizer))`, type, press Enter or Send.

    `history` holds the (user, assistant) turns the model still sees; `context` overrides the
    model's context window (tests use a small one to exercise trimming). A `RemoteChat` needs no
    tokenizer: its server has one. `model` may also be a load under way (load_genai_in_background): the
    box shows at once with the load's progress, and a message sent meanwhile is answered once it is ready.
    """

    def __init__(self, model, tokenizer=None, system=COOKBOOK_SYSTEM, *, context=None, max_new_tokens=512):
        import ipywidgets as w

        self.load = model if isinstance(model, ModelLoad) else None
        self.model, self.tokenizer, self.system = None if self.load else model, tokenizer, system
        self._context = context
        self.context = context or (None if self.load else context_window(model))
        self.history, self.last_error, self.last_reply, self.epoch = [], None, None, 0
        self.queued = None  # (text, its bubble, since when): a message sent while the model loads
        self.replying = None  # the reply being written (its bubble), set by the worker
        self._lock, self._busy = threading.Lock(), False
        self._done, self._stop_event = threading.Event(), threading.Event()
        self._done.set()
        self._clipboard = Clipboard()
        self.transcript = Transcript(markdown_renderer(), on_copy=self.copy_to_clipboard)
        self.settings = Settings({**SAMPLING_DEFAULTS, "max_new_tokens": max_new_tokens, "system": system},
                                 on_system=lambda text: setattr(self, "system", text))
        self.controls = Controls()
        for name in CONTROLS + SETTINGS:  # box.input, box.send, box.temperature, box.system_prompt, ...
            setattr(self, name, getattr(self.controls if name in CONTROLS else self.settings, name))
        self.load_line = w.HTML()  # the load's progress, then what it did
        self.widget = w.VBox([w.HTML(CSS), self.load_line, self.transcript.widget, self.status,
                              *self.controls.rows, self.settings.widget, self._clipboard.output],
                             layout=w.Layout(width="100%"))
        self._enter = EnterKey(self.input, self._on_send)
        self.send.on_click(lambda _: self._on_send())
        self.stop.on_click(lambda _: self._on_stop())
        self.regenerate.on_click(lambda _: self._on_regenerate())
        self.clear.on_click(lambda _: self.reset())
        for b in self.examples:
            b.on_click(self._fill)
        if self.load is not None:
            self.load.subscribe(lambda _line: self._show_load(), self._on_loaded)
            if not self.load.done:
                threading.Thread(target=self._tick, name="phi3nb-load-clock", daemon=True).start()

    @property
    def messages(self):
        return self.transcript.messages

    def reset_advanced(self):
        """Every setting under Advanced back to what the box started with."""
        self.settings.reset()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- actions (kernel thread) ---------------------------------------------------------------
    def _fill(self, button):
        """An example prompt goes into the box, to edit or send."""
        self._enter.cancel()
        self.input.value = button.description

    def _on_send(self):
        """Start one reply; while one streams, refuse (the text stays in the box). An empty box sends nothing."""
        self._enter.cancel()
        text = self.input.value.strip()
        if text:
            self._start(text, self.history)

    def _on_regenerate(self):
        """Ask the last question again, in place of the last reply."""
        last = self.last_reply
        if last is None or not self.history or last not in self.messages:
            return
        self._start(self.history[-1][0], self.history[:-1], replace=last)

    def _on_stop(self):
        """Stop the reply within one token; a message still waiting for the model goes back into the box.
        Before the first token the model is reading the prompt, which nothing interrupts: the status says so,
        or a person pressing Stop during a long prompt's seconds would see nothing happen."""
        with self._lock:
            queued, self.queued = self.queued, None
        if queued is None:
            self._stop_event.set()
            self.stop.disabled = True  # taken: pressing it again would do nothing more
            if self.reading:
                self.status.value = status_html(STOPPING)
            return
        text, asked, _ = queued
        self.transcript.remove(asked)
        self.give_back(text)
        self.reply_ended()

    def _start(self, text, history, replace=None) -> bool:
        """Run one turn after `history` in a worker thread, or keep it for when the model has loaded;
        False (and a note saying why) if a reply is running or waiting, or the model failed to load."""
        with self._lock:  # _on_loaded takes self.queued under this lock, once the model is set
            if self._busy or (self.load is not None and self.load.error is not None):
                self.status.value = status_html(NOT_LOADED if not self._busy else
                                                STILL_LOADING if self.queued else BUSY)
                return False
            self._busy = True
            self._done.clear()
            self._stop_event = threading.Event()
            self.send.disabled = self.regenerate.disabled = True
            self.stop.disabled = False
            asked = None  # the message's bubble, when it was typed (not a regeneration)
            if replace is not None:
                self.transcript.remove(replace)
            else:
                asked = self.transcript.add("user", text)
                self.input.value = ""  # before the worker starts: a turn refused at once gets its text back
            if self.model is None:
                self.queued = (text, asked, time.perf_counter())
                self.status.value = status_html(QUEUED)
                return True
        self._run(text, history, asked, replace)
        return True

    def _run(self, text, history, asked, replace=None, waited=None):
        self.last_reply = None
        threading.Thread(target=run_reply, args=(self, text, list(history), self.settings.sampling(), self.epoch,
                                                 self._stop_event, asked),
                         kwargs={"replaced": replace, "waited": waited}, name="phi3nb-chatbox", daemon=True).start()

    # -- the model loading in the background (its thread) -----------------------------------------
    def _tick(self):
        """The load line's clock, once a second until the load ends."""
        while not self.load.wait(TICK):
            self._show_load()

    def _show_load(self):
        load = self.load
        state = "loading" if not load.done else "failed" if load.error is not None else "ready"
        self.load_line.value = load_html(load.lines, load.elapsed(), state)

    def _on_loaded(self):
        """The model is ready: answer the message that waited for it; or the load failed: say why in the
        transcript, and give a waiting message back."""
        load = self.load
        if load.error is None:
            self.model = load.model
            self.context = self._context or context_window(self.model)
        self._show_load()
        with self._lock:
            queued, self.queued = self.queued, None
        if load.error is None:
            if queued is not None:
                text, asked, since = queued
                self.status.value = ""
                self._run(text, self.history, asked, waited=time.perf_counter() - since)
            return
        self.last_error = load.error
        error = describe(load.error)
        if queued is not None:
            text, asked, _ = queued
            if self.give_back(text):
                self.transcript.remove(asked)
                error += f" {GIVEN_BACK}"
        self.transcript.add("error", error)
        self.send.disabled = True  # nothing to send to (Enter says so)
        if queued is not None:
            self.reply_ended()  # last: whoever waits for the message sees the error already shown

    def reset(self):
        """Clear: stop any reply (within one token), forget the conversation, start over."""
        self._enter.cancel()
        with self._lock:
            queued, self.queued = self.queued, None
        if queued is not None:
            self.reply_ended()  # a message waiting for the model is forgotten with the rest
        self._stop_event.set()
        if self.reading:
            self.status.value = status_html(STOPPING)
        self.wait(timeout=30)
        self.epoch += 1  # a reply still running after the timeout lands nowhere
        self.history, self.last_reply = [], None
        self.input.value = ""
        self.status.value = ""
        self.regenerate.disabled = True
        self.transcript.show([])

    def wait(self, timeout=None) -> bool:
        """Block until the current reply is done (one waiting for the model too); True if it finished within
        `timeout` seconds."""
        return self._done.wait(timeout)

    def copy_to_clipboard(self, text):
        """Put `text` on the browser's clipboard (JupyterLab runs the JavaScript output)."""
        self._clipboard.copy(text)

    def transcript_html(self) -> str:
        """Every message's HTML, in order: what the transcript shows (for tests and debugging)."""
        return self.transcript.html()

    # -- called by the worker thread -------------------------------------------------------------
    def give_back(self, text) -> bool:
        """A message whose turn failed goes back into the input box, to send again or edit, unless
        something new has been typed there meanwhile."""
        if self.input.value.strip():
            return False
        self._enter.cancel()  # putting it back must not send it
        self.input.value = text
        return True

    @property
    def reading(self) -> bool:
        """True while a reply runs and has no token yet: the model is reading its prompt."""
        reply = self.replying
        return self._busy and reply is not None and not reply.text

    def reply_ended(self):
        with self._lock:
            self._busy = False
            self.replying = None
        self.status.value = ""
        self.send.disabled = self.load is not None and self.load.error is not None
        self.stop.disabled = True
        self.regenerate.disabled = self.last_reply is None
        self._done.set()
