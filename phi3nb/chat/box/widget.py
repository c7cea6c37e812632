"""Step 11: chat with the model inside the notebook, like openvino_notebooks' llm-chatbot, with ipywidgets.

The box is put together from parts: the transcript (chat_message), the input and buttons (chat_controls),
the Advanced settings (chat_settings), Enter (enter_key), the reply's worker thread (chat_worker) and Copy (clipboard). How a message looks is
in chat_html.py.
"""

import threading

from .html import CSS, markdown_renderer, status_html
from .transcript import Transcript
from .controls import NAMES as CONTROLS, Controls
from .settings import NAMES as SETTINGS, SAMPLING_DEFAULTS, Settings
from .worker import run_reply
from .clipboard import Clipboard
from ...cookbook import COOKBOOK_SYSTEM
from .enter_key import EnterKey
from ...run.generation import context_window

BUSY = "Still answering the last message: wait for it, or press Stop."


class ChatBox:
    """A chat widget: `display(ChatBox(model, tokenizer))`, type, press Enter or Send.

    `history` holds the (user, assistant) turns the model still sees; `context` overrides the
    model's context window (tests use a small one to exercise trimming). A `RemoteChat` needs no
    tokenizer: its server has one.
    """

    def __init__(self, model, tokenizer=None, system=COOKBOOK_SYSTEM, *, context=None, max_new_tokens=512):
        import ipywidgets as w

        self.model, self.tokenizer, self.system = model, tokenizer, system
        self.context = context or context_window(model)
        self.history, self.last_error, self.last_reply, self.epoch = [], None, None, 0
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
        self.widget = w.VBox([w.HTML(CSS), self.transcript.widget, self.status, *self.controls.rows,
                              self.settings.widget, self._clipboard.output], layout=w.Layout(width="100%"))
        self._enter = EnterKey(self.input, self._on_send)
        self.send.on_click(lambda _: self._on_send())
        self.stop.on_click(lambda _: self._stop_event.set())
        self.regenerate.on_click(lambda _: self._on_regenerate())
        self.clear.on_click(lambda _: self.reset())
        for b in self.examples:
            b.on_click(self._fill)

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

    def _start(self, text, history, replace=None) -> bool:
        """Run one turn after `history` in a worker thread; False (and the busy note) if one is running."""
        with self._lock:
            if self._busy:
                self.status.value = status_html(BUSY)
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
        self.last_reply = None
        threading.Thread(target=run_reply, args=(self, text, list(history), self.settings.sampling(), self.epoch,
                                                 self._stop_event, asked), name="phi3nb-chatbox", daemon=True).start()
        return True

    def reset(self):
        """Clear: stop any reply (within one token), forget the conversation, start over."""
        self._enter.cancel()
        self._stop_event.set()
        self.wait(timeout=30)
        self.epoch += 1  # a reply still running after the timeout lands nowhere
        self.history, self.last_reply = [], None
        self.input.value = ""
        self.status.value = ""
        self.regenerate.disabled = True
        self.transcript.show([])

    def wait(self, timeout=None) -> bool:
        """Block until the current reply is done; True if it finished within `timeout` seconds."""
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

    def reply_ended(self):
        with self._lock:
            self._busy = False
        self.status.value = ""
        self.send.disabled, self.stop.disabled = False, True
        self.regenerate.disabled = self.last_reply is None
        self._done.set()
