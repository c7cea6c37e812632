"""The chat box's transcript: one HTML widget per message, so streaming re-renders only the reply being
written and what a person reads, scrolls to or selects in earlier messages stays put."""

from .html import EMPTY, message_html, stats_html


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
            children.append(w.HBox([self.copy, self.stats_line], layout=w.Layout(align_items="baseline")))
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


class Transcript:
    """The messages in order, in a scrolling pane (`widget`) that follows the newest one."""

    def __init__(self, md, on_copy):
        import ipywidgets as w

        self.md, self.on_copy, self.messages = md, on_copy, []
        self.column = w.VBox(layout=w.Layout(width="100%", flex="0 0 auto"))
        # column-reverse around one child: the browser starts at the bottom and follows the newest
        # message only while the reader is there; scrolled up, the view stays put.
        self.widget = w.Box([self.column], layout=w.Layout(
            flex_flow="column-reverse", overflow_y="auto", max_height="480px", min_height="120px", width="100%"))
        self.widget.add_class("phi3nb-chat")
        self.show([])

    def add(self, role, text, before=None) -> Message:
        message = Message(self.md, role, text, on_copy=self.on_copy if role == "assistant" else None)
        messages = list(self.messages)
        messages.insert(messages.index(before) if before in messages else len(messages), message)
        self.show(messages)
        return message

    def remove(self, *gone):
        self.show([m for m in self.messages if m not in gone])

    def replace(self, old, new):
        """`new` where `old` is (at the end if `old` is not shown)."""
        messages = [new if m is old else m for m in self.messages]
        self.show(messages if new in messages else messages + [new])

    def show(self, messages):
        """Set the column's children: existing messages keep their views, only new ones render."""
        self.messages = messages
        if messages:
            self.column.children = [m.widget for m in messages]
        else:
            self.column.children = [Message(self.md, "note", EMPTY).widget]

    def html(self) -> str:
        return "".join(m.html for m in self.messages)
