"""Step 11: chat with the model inside the notebook, like openvino_notebooks' llm-chatbot, with ipywidgets.

Replies stream from a worker thread, so the kernel stays free for Stop. Each message is its own
widget: streaming re-renders only the reply being written, so what a person reads, scrolls to or
selects in earlier messages stays put. How a message looks is in chat_html.py.
"""

import json
import threading
import time

from .errors import Phi3nbError
from .chat import chat_turn
from .chat_html import CSS, EMPTY, markdown_renderer, message_html, stats_html, status_html
from .generation import context_window
from .cookbook import COOKBOOK_SYSTEM

RENDER_EVERY = 0.05  # seconds between re-renders while streaming: smooth, without flooding the comm
SUBMIT_WAIT = 0.3  # seconds an Enter waits for the value that may follow it (see _on_input_msg)
BUSY = "Still answering the last message: wait for it, or press Stop."
GIVEN_BACK = "Your message is back in the box: press Enter to send it again."
EXAMPLES = ("What is OpenVINO?", "Explain Cinderella in one sentence.", "Write a haiku about the sea.")
SAMPLING_DEFAULTS = {"temperature": 0.0, "top_p": 0.9, "top_k": 50, "repetition_penalty": 1.1}
# Copies with the browser's clipboard API. ipywidgets has no clipboard (ipywidgets#1891), so the Copy
# button shows this JavaScript output in a hidden Output widget; JupyterLab runs it. The reply goes
# in as a JSON string, never as code.
COPY_JS = "navigator.clipboard.writeText({}).catch(e => console.warn('phi3nb: copy failed', e))"


class Message:
    """One message in the transcript, with its own HTML widget; a reply also gets Copy and its stats."""

    def __init__(self, md, role, text="", on_copy=None):
        import ipywidgets as w

        self.md, self.role, self.text, self.streaming, self.stats = md, role, text, False, ""
        self.bubble = w.HTML()
        self.stats_line = w.HTML()
        self.copy = None
        children = [self.bubble]
        if on_copy is not None:
            self.copy = w.Button(icon="copy", tooltip="Copy this reply (Markdown) to the clipboard",
                                 layout=w.Layout(width="32px", height="24px", padding="0"))
            self.copy.add_class("phi3nb-copy")
            self.copy.on_click(lambda _: on_copy(self.text))
            children.append(w.HBox([self.copy, self.stats_line], layout=w.Layout(align_items="center")))
        self.widget = w.VBox(children, layout=w.Layout(flex="0 0 auto"))  # flex items shrink by default
        self.render()

    def render(self):
        self.bubble.value = message_html(self.md, self.role, self.text, streaming=self.streaming)
        self.stats_line.value = stats_html(self.stats)
        if self.copy is not None:
            self.copy.layout.visibility = "hidden" if self.streaming or not self.text else "visible"

    @property
    def html(self):
        return self.bubble.value + self.stats_line.value


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
        self.history, self.messages, self.last_error = [], [], None
        self._md = markdown_renderer()
        self._lock, self._submit_lock = threading.Lock(), threading.Lock()
        self._done, self._stop_event = threading.Event(), threading.Event()
        self._done.set()
        self._busy, self._epoch, self._submit, self._last_reply = False, 0, None, None
        self._defaults = {**SAMPLING_DEFAULTS, "max_new_tokens": max_new_tokens, "system": system}

        self.transcript = w.VBox(layout=w.Layout(width="100%", flex="0 0 auto"))
        # column-reverse around one child: the browser starts at the bottom and follows the newest
        # message only while the reader is there; scrolled up, the view stays put.
        self.pane = w.Box([self.transcript], layout=w.Layout(
            flex_flow="column-reverse", overflow_y="auto", max_height="480px", min_height="120px", width="100%"))
        self.pane.add_class("phi3nb-chat")
        self.status = w.HTML()
        # continuous_update=False: the value arrives on Enter (after a "submit" message) or on leaving the box.
        self.input = w.Text(placeholder="Type a message; Enter sends", continuous_update=False,
                            layout=w.Layout(flex="1 1 12em", min_width="10em", width="auto"))
        button = dict(layout=w.Layout(width="auto", flex="0 0 auto"))
        self.send = w.Button(description="Send", button_style="primary", icon="paper-plane",
                             tooltip="Send the message (Enter)", **button)
        self.stop = w.Button(description="Stop", icon="stop", disabled=True, tooltip="Stop the reply", **button)
        self.regenerate = w.Button(description="Regenerate", icon="redo", disabled=True,
                                   tooltip="Write the last reply again", **button)
        self.clear = w.Button(description="Clear", icon="trash", tooltip="Forget the conversation", **button)
        self.examples = [w.Button(description=text, tooltip="Put this example in the box", **button)
                         for text in EXAMPLES]
        for b in self.examples:
            b.add_class("phi3nb-example")
        self._clipboard = w.Output(layout=w.Layout(display="none"))
        self.widget = w.VBox([w.HTML(CSS), self.pane, self.status,
                              w.HBox([self.input, self.send, self.stop, self.regenerate, self.clear],
                                     layout=w.Layout(flex_flow="row wrap", width="100%")),
                              w.HBox(self.examples, layout=w.Layout(flex_flow="row wrap", width="100%")),
                              self._advanced(w), self._clipboard], layout=w.Layout(width="100%"))

        self.send.on_click(lambda _: self._on_send())
        self.stop.on_click(lambda _: self._stop_event.set())
        self.regenerate.on_click(lambda _: self._on_regenerate())
        self.clear.on_click(lambda _: self.reset())
        for b in self.examples:
            b.on_click(self._fill)
        self.input.on_msg(self._on_input_msg)
        self.input.observe(self._on_input_value, "value")
        self._show([])

    def _advanced(self, w):
        """Sampling sliders, the system prompt and Reset, folded away like llm-chatbot's."""
        d, style = self._defaults, {"description_width": "110px"}
        self.temperature = w.FloatSlider(d["temperature"], min=0.0, max=2.0, step=0.05, description="Temperature",
                                         tooltip="0 = greedy: always the likeliest token, the same reply each "
                                                 "time; higher = more varied")
        self.top_p = w.FloatSlider(d["top_p"], min=0.05, max=1.0, step=0.05, description="Top-p",
                                   tooltip="Sample from the likeliest tokens that together reach this probability "
                                           "(used when temperature > 0)")
        self.top_k = w.IntSlider(d["top_k"], min=0, max=200, description="Top-k",
                                 tooltip="Sample from the k likeliest tokens; 0 = all (used when temperature > 0)")
        self.repetition_penalty = w.FloatSlider(d["repetition_penalty"], min=1.0, max=2.0, step=0.05,
                                                description="Rep. penalty",
                                                tooltip="Above 1 makes repeating earlier tokens less likely")
        self.max_new_tokens = w.IntSlider(d["max_new_tokens"], min=1, max=max(4096, d["max_new_tokens"]),
                                          description="Max tokens", tooltip="The longest a reply may be, in tokens")
        self.system_prompt = w.Textarea(d["system"], description="System prompt", rows=2,
                                        tooltip="Sent before the conversation on every turn",
                                        layout=w.Layout(width="95%"))
        self.reset_settings = w.Button(description="Reset", icon="undo", tooltip="Back to the defaults",
                                       layout=w.Layout(width="auto", align_self="flex-start"))
        rows = [self.temperature, self.top_p, self.top_k, self.repetition_penalty, self.max_new_tokens,
                self.system_prompt]
        for r in rows:
            r.style = style
        self.temperature.observe(lambda _: self._sampling_enabled(), "value")
        self.system_prompt.observe(lambda c: setattr(self, "system", c["new"]), "value")
        self.reset_settings.on_click(lambda _: self.reset_advanced())
        self._sampling_enabled()
        return w.Accordion([w.VBox(rows + [self.reset_settings])], titles=("Advanced",), selected_index=None)

    def _sampling_enabled(self):
        """Top-p and top-k only matter when sampling: greyed out at temperature 0."""
        self.top_p.disabled = self.top_k.disabled = self.temperature.value == 0

    def reset_advanced(self):
        """Every setting under Advanced back to what the box started with."""
        d = self._defaults
        for name in ("temperature", "top_p", "top_k", "repetition_penalty", "max_new_tokens"):
            getattr(self, name).value = d[name]
        self.system_prompt.value = d["system"]

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- Enter (kernel thread) -----------------------------------------------------------------
    def _on_input_msg(self, _widget, content, _buffers):
        """Enter sends the front end's "submit", then the value only if it changed since the last one.

        So the submit itself decides: the value that follows within SUBMIT_WAIT is sent, or, if none
        comes (Enter on text kept after a refusal), the text the box already holds. Nothing stays armed
        after that, so leaving the box later never sends.
        """
        if content.get("event") != "submit":
            return
        with self._submit_lock:
            if self._submit is not None:
                self._submit.cancel()
            self._submit = threading.Timer(SUBMIT_WAIT, self._take_submit)
            self._submit.daemon = True
            self._submit.start()

    def _on_input_value(self, change):
        """A value right after an Enter is that Enter's text; any other (leaving the box) is only kept."""
        self._take_submit()

    def _take_submit(self):
        if self._cancel_submit():
            self._on_send()

    def _cancel_submit(self) -> bool:
        """Disarm a waiting Enter; True if there was one (the caller then acts on it, exactly once)."""
        with self._submit_lock:
            pending, self._submit = self._submit, None
        if pending is not None:
            pending.cancel()
        return pending is not None

    def _fill(self, button):
        """An example prompt goes into the box, to edit or send."""
        self._cancel_submit()
        self.input.value = button.description

    # -- actions -------------------------------------------------------------------------------
    def _on_send(self):
        """Start one reply; while one streams, refuse (the text stays in the box)."""
        self._cancel_submit()
        text = self.input.value.strip()
        if text:
            self._start(text, self.history)

    def _on_regenerate(self):
        """Ask the last question again, in place of the last reply."""
        last = self._last_reply
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
        settings = dict(max_new_tokens=self.max_new_tokens.value, temperature=self.temperature.value,
                        top_p=self.top_p.value, top_k=self.top_k.value,
                        repetition_penalty=self.repetition_penalty.value)
        self.send.disabled = self.regenerate.disabled = True
        self.stop.disabled = False
        asked = None  # the message's bubble, when it was typed (not a regeneration)
        if replace is not None:
            self._remove(replace)
        else:
            asked = self._add("user", text)
            self.input.value = ""  # before the worker starts: a turn refused at once gets its text back
        self._last_reply = None
        threading.Thread(target=self._reply, args=(text, list(history), settings, self._epoch, self._stop_event,
                                                   asked), name="phi3nb-chatbox", daemon=True).start()
        return True

    def reset(self):
        """Clear: stop any reply (within one token), forget the conversation, start over."""
        self._cancel_submit()
        self._stop_event.set()
        self.wait(timeout=30)
        self._epoch += 1  # a reply still running after the timeout lands nowhere
        self.history, self._last_reply = [], None
        self.input.value = ""
        self.status.value = ""
        self.regenerate.disabled = True
        self._show([])

    def wait(self, timeout=None) -> bool:
        """Block until the current reply is done; True if it finished within `timeout` seconds."""
        return self._done.wait(timeout)

    def copy_to_clipboard(self, text):
        """Put `text` on the browser's clipboard (JupyterLab runs the JavaScript output)."""
        from IPython.display import Javascript

        self._clipboard.outputs = ()
        self._clipboard.append_display_data(Javascript(COPY_JS.format(json.dumps(text))))
        # gone again shortly, so reopening the page does not copy it a second time
        timer = threading.Timer(2.0, lambda: setattr(self._clipboard, "outputs", ()))
        timer.daemon = True
        timer.start()

    # -- the reply (worker thread) -------------------------------------------------------------
    def _reply(self, text, history, settings, epoch, stop_event, asked=None):
        message = None
        try:
            message = self._add("assistant", "")
            message.streaming = True
            message.render()
            last = [0.0]

            def on_piece(piece):
                message.text += piece
                if time.perf_counter() - last[0] >= RENDER_EVERY:
                    last[0] = time.perf_counter()
                    message.render()

            turn = chat_turn(self.model, self.tokenizer, history, text, system=self.system, context=self.context,
                             on_text=on_piece, stop_event=stop_event, **settings)
            message.text, message.streaming, message.stats = turn.reply, False, turn.stats()
            message.render()
            if epoch != self._epoch:
                return  # cleared meanwhile: this reply belongs to a transcript that is gone
            if turn.dropped:
                s = "s" if turn.dropped > 1 else ""
                self._add("note", f"Dropped {turn.dropped} oldest turn{s} to fit the context of {self.context} "
                                  "tokens.", before=message)
            self.history, self._last_reply = history, message
        except Exception as e:  # noqa: BLE001 - any failure is shown; the box must stay usable
            self.last_error = e
            error = (str(e) if isinstance(e, Phi3nbError) else f"{type(e).__name__}: {e}") or type(e).__name__
            if epoch == self._epoch and asked is not None and self._give_back(text):
                self._show([m for m in self.messages if m not in (asked, message)])  # the failed turn leaves
                error += f" {GIVEN_BACK}"
            elif message is not None and not message.text:
                self._remove(message)
            elif message is not None:
                message.streaming = False
                message.render()
            if epoch == self._epoch:
                self._add("error", error)
        finally:
            with self._lock:
                self._busy = False
            self.status.value = ""
            self.send.disabled, self.stop.disabled = False, True
            self.regenerate.disabled = self._last_reply is None
            self._done.set()

    def _give_back(self, text) -> bool:
        """A message whose turn failed goes back into the input box, to send again or edit, unless
        something new has been typed there meanwhile."""
        if self.input.value.strip():
            return False
        self._cancel_submit()  # putting it back must not send it
        self.input.value = text
        return True

    # -- the transcript ------------------------------------------------------------------------
    def _add(self, role, text, before=None):
        message = Message(self._md, role, text, on_copy=self.copy_to_clipboard if role == "assistant" else None)
        messages = list(self.messages)
        messages.insert(messages.index(before) if before in messages else len(messages), message)
        self._show(messages)
        return message

    def _remove(self, message):
        self._show([m for m in self.messages if m is not message])

    def _show(self, messages):
        """Set the transcript's children: existing messages keep their views, only new ones render."""
        self.messages = messages
        if messages:
            self.transcript.children = [m.widget for m in messages]
        else:
            self.transcript.children = [Message(self._md, "note", EMPTY).widget]

    def transcript_html(self) -> str:
        """Every message's HTML, in order: what the transcript shows (for tests and debugging)."""
        return "".join(m.html for m in self.messages)
