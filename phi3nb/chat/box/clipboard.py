"""Copy to the browser's clipboard from the kernel.

ipywidgets has no clipboard (ipywidgets#1891), so a hidden Output widget shows a JavaScript output that
JupyterLab runs. The text goes in as a JSON string, never as code.
"""

import json
import threading

COPY_JS = "navigator.clipboard.writeText({}).catch(e => console.warn('phi3nb: copy failed', e))"
SHOWN_FOR = 2.0  # seconds the output stays, so reopening the page later does not copy it a second time


class Clipboard:
    def __init__(self):
        import ipywidgets as w

        self.output = w.Output(layout=w.Layout(display="none"))

    def copy(self, text):
        """Put `text` on the browser's clipboard (JupyterLab runs the JavaScript output)."""
        from IPython.display import Javascript

        self.output.outputs = ()
        self.output.append_display_data(Javascript(COPY_JS.format(json.dumps(text))))
        timer = threading.Timer(SHOWN_FOR, lambda: setattr(self.output, "outputs", ()))
        timer.daemon = True
        timer.start()
