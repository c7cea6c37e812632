"""Step 11: chat with the model inside the notebook, like openvino_notebooks' llm-chatbot, with ipywidgets.

Replies stream from a worker thread into an HTML pane, so the kernel stays free for Stop.
Everything shown goes through Markdown with raw HTML off: text is shown, never run.
"""

import html
import threading
import time

from .errors import Phi3nbError
from .chat import chat_turn
from .generation import context_window
from .cookbook import COOKBOOK_SYSTEM

RENDER_EVERY = 0.05  # seconds between re-renders while streaming: smooth, without flooding the comm
BUSY = "Still answering the last message: wait for it, or press Stop."
PANE_STYLE = ("display:flex;flex-direction:column-reverse;overflow-y:auto;max-height:480px;min-height:120px;"
              "padding:8px;border:1px solid var(--jp-border-color2,#ddd);border-radius:6px;"
              "color:var(--jp-ui-font-color1,#222);font-size:var(--jp-content-font-size1,14px);line-height:1.5")
# Only tidies Markdown's own margins inside bubbles; message text is escaped, so it cannot add CSS.
PANE_CSS = ("<style>.phi3nb-chat p,.phi3nb-chat ul,.phi3nb-chat ol,.phi3nb-chat pre{margin:6px 0}"
            ".phi3nb-chat pre{white-space:pre-wrap;background:var(--jp-layout-color3,#e5e5e5);padding:6px;"
            "border-radius:4px}</style>")
BUBBLE = "max-width:85%;padding:4px 12px;border-radius:10px;margin:4px 0;overflow-wrap:anywhere;"
STYLES = {
    "user": BUBBLE + "align-self:flex-end;background:var(--jp-brand-color3,#dbeafe);",
    "assistant": BUBBLE + "align-self:flex-start;background:var(--jp-layout-color2,#f1f1f1);",
    "note": "align-self:center;font-style:italic;color:var(--jp-ui-font-color2,#666);margin:4px 0;",
    "error": BUBBLE + "align-self:stretch;max-width:100%;background:var(--jp-error-color3,#fde2e2);"
                      "color:var(--jp-error-color0,#a00);",
}
STATS_STYLE = "font-size:smaller;color:var(--jp-ui-font-color2,#666);margin:0 0 6px 0"


def markdown_renderer():
    """CommonMark with raw HTML and images off (no remote fetches), links opening in a new tab."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable(["table", "strikethrough"])
    md.disable("image")

    def link_open(tokens, idx, options, env):
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer")
        return md.renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


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
        self.history, self.entries, self.last_error = [], [], None
        self._md = markdown_renderer()
        self._lock, self._render_lock = threading.Lock(), threading.Lock()
        self._done, self._stop_event = threading.Event(), threading.Event()
        self._done.set()
        self._busy, self._epoch, self._enter = False, 0, False

        self.pane = w.HTML(layout=w.Layout(width="100%"))
        # continuous_update=False: the value arrives once, on Enter or leaving the box. On Enter the
        # front end first sends a "submit" message, then the value; only that pair sends.
        self.input = w.Text(placeholder="Type a message, press Enter or Send", continuous_update=False,
                            layout=w.Layout(flex="1 1 auto", width="auto"))
        self.send = w.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop = w.Button(description="Stop", icon="stop", disabled=True)
        self.clear = w.Button(description="Clear", icon="trash")
        self.temperature = w.FloatSlider(0.0, min=0.0, max=2.0, step=0.05, description="Temperature",
                                         tooltip="0 = greedy (always the likeliest token)")
        self.top_p = w.FloatSlider(0.9, min=0.05, max=1.0, step=0.05, description="Top-p")
        self.top_k = w.IntSlider(50, min=0, max=200, description="Top-k")
        self.repetition_penalty = w.FloatSlider(1.1, min=1.0, max=2.0, step=0.05, description="Rep. penalty")
        self.max_new_tokens = w.IntSlider(max_new_tokens, min=1, max=max(4096, max_new_tokens),
                                          description="Max tokens")
        style = {"description_width": "100px"}
        sliders = [self.temperature, self.top_p, self.top_k, self.repetition_penalty, self.max_new_tokens]
        for s in sliders:
            s.style = style
        self.advanced = w.Accordion([w.VBox(sliders)], titles=("Advanced",), selected_index=None)
        self.widget = w.VBox([self.pane, w.HBox([self.input, self.send, self.stop, self.clear]), self.advanced],
                             layout=w.Layout(width="100%"))

        self.send.on_click(lambda _: self._on_send())
        self.stop.on_click(lambda _: self._stop_event.set())
        self.clear.on_click(lambda _: self.reset())
        self.input.on_msg(self._on_input_msg)
        self.input.observe(self._on_input_value, "value")
        self._render()

    # -- display -------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    # -- events (kernel thread) ----------------------------------------------------------------
    def _on_input_msg(self, _widget, content, _buffers):
        if content.get("event") == "submit":
            self._enter = True

    def _on_input_value(self, change):
        """Enter: the value that follows a submit message is sent. Leaving the box only keeps it."""
        if self._enter:
            self._enter = False
            self._on_send()

    def _on_send(self):
        """Start one reply; while one streams, refuse (the text stays in the box)."""
        self._enter = False
        text = self.input.value.strip()
        if not text:
            return
        with self._lock:
            if self._busy:
                self._add("note", BUSY)
                self._render()
                return
            self._busy = True
            self._done.clear()
        self._stop_event = threading.Event()
        settings = dict(max_new_tokens=self.max_new_tokens.value, temperature=self.temperature.value,
                        top_p=self.top_p.value, top_k=self.top_k.value,
                        repetition_penalty=self.repetition_penalty.value)
        self.input.value = ""
        self.send.disabled, self.stop.disabled = True, False
        self._add("user", text)
        self._render()
        threading.Thread(target=self._reply, args=(text, settings, self._epoch, self._stop_event),
                         name="phi3nb-chatbox", daemon=True).start()

    def reset(self):
        """Clear: stop any reply (within one token), forget the conversation, start over."""
        self._stop_event.set()
        self.wait(timeout=30)
        self._epoch += 1  # a reply still running after the timeout lands nowhere
        self.history, self.entries = [], []
        self.input.value = ""
        self._render()

    def wait(self, timeout=None) -> bool:
        """Block until the current reply is done; True if it finished within `timeout` seconds."""
        return self._done.wait(timeout)

    # -- the reply (worker thread) -------------------------------------------------------------
    def _reply(self, text, settings, epoch, stop_event):
        entry = None
        history = list(self.history)
        try:
            entry = self._add("assistant", "")
            entry["streaming"] = True
            last = [0.0]

            def on_piece(piece):
                entry["text"] += piece
                entry["html"] = None
                if time.perf_counter() - last[0] >= RENDER_EVERY:
                    last[0] = time.perf_counter()
                    self._render()

            turn = chat_turn(self.model, self.tokenizer, history, text, system=self.system, context=self.context,
                             on_text=on_piece, stop_event=stop_event, **settings)
            entry.update(text=turn.reply, html=None, streaming=False, stats=turn.stats())
            if turn.dropped:
                note = self._add("note", f"Dropped {turn.dropped} oldest turn{'s' if turn.dropped > 1 else ''} "
                                         f"to fit the context of {self.context} tokens.")
                self.entries.remove(note)
                self.entries.insert(self.entries.index(entry), note)
            if epoch == self._epoch:
                self.history = history
        except Exception as e:  # noqa: BLE001 - any failure is shown; the box must stay usable
            self.last_error = e
            if entry is not None and not entry["text"]:
                self.entries.remove(entry)
            elif entry is not None:
                entry.update(streaming=False, html=None)
            message = str(e) if isinstance(e, Phi3nbError) else f"{type(e).__name__}: {e}"
            self._add("error", message or type(e).__name__)
        finally:
            with self._lock:
                self._busy = False
            self.send.disabled, self.stop.disabled = False, True
            if epoch == self._epoch:
                self._render()
            self._done.set()

    # -- rendering -----------------------------------------------------------------------------
    def _add(self, role, text):
        entry = {"role": role, "text": text, "html": None}
        self.entries.append(entry)
        return entry

    def _render(self):
        """Re-render the transcript; finished entries keep their cached HTML."""
        with self._render_lock:  # the kernel and worker threads both render; the newest state wins
            parts = [self._entry_html(e) for e in list(self.entries)]
            if not parts:
                parts = [f'<div style="{STYLES["note"]}">Ask me anything. Enter sends.</div>']
            # column-reverse around a single child keeps the scroll pinned to the newest message
            body = "".join(parts)
            self.pane.value = f'{PANE_CSS}<div class="phi3nb-chat" style="{PANE_STYLE}"><div>{body}</div></div>'

    def _entry_html(self, e):
        if e["html"] is None:
            role = e["role"]
            if role in ("note", "error"):
                body = html.escape(e["text"]).replace("\n", "<br>")
            else:
                body = self._md.render(e["text"] + (" ▌" if e.get("streaming") else ""))
            stats = f'<div style="{STATS_STYLE}">{html.escape(e["stats"])}</div>' if e.get("stats") else ""
            e["html"] = (f'<div style="display:flex;flex-direction:column"><div class="phi3nb-{role}" '
                         f'style="{STYLES[role]}">{body}</div>{stats}</div>')
        return e["html"]
