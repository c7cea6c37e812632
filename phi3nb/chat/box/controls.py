"""The chat box's controls: the input box, its buttons, the example prompts and the status line."""

EXAMPLES = ("What is OpenVINO?", "Explain Cinderella in one sentence.", "Write a haiku about the sea.")
NAMES = ("status", "input", "send", "stop", "regenerate", "clear", "examples")  # attributes of the chat box too


class Controls:
    """`rows` are the two rows under the transcript; the box wires the buttons."""

    def __init__(self):
        import ipywidgets as w

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
        row = dict(layout=w.Layout(flex_flow="row wrap", width="100%"))
        self.rows = [w.HBox([self.input, self.send, self.stop, self.regenerate, self.clear], **row),
                     w.HBox(self.examples, **row)]
