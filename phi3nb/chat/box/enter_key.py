"""Enter in an ipywidgets Text box sends exactly once, and leaving the box never sends.

With continuous_update=False the front end sends a "submit" message on Enter, then the value only if it
changed since the last one. So the submit itself decides: the value that follows within SUBMIT_WAIT is
sent, or, if none comes (Enter on text kept after a refusal), the text the box already holds. Nothing stays
armed after that, so a value that arrives later (leaving the box) is only kept.
"""

import threading

SUBMIT_WAIT = 0.3  # seconds an Enter waits for the value that may follow it


class EnterKey:
    """Calls `send()` once per Enter in `text_box`, from the kernel thread or a timer's."""

    def __init__(self, text_box, send):
        self.send, self.pending, self._lock = send, None, threading.Lock()
        text_box.on_msg(self._on_msg)
        text_box.observe(lambda _change: self._take(), "value")

    def _on_msg(self, _widget, content, _buffers):
        if content.get("event") != "submit":
            return
        with self._lock:
            if self.pending is not None:
                self.pending.cancel()
            self.pending = threading.Timer(SUBMIT_WAIT, self._take)
            self.pending.daemon = True
            self.pending.start()

    def _take(self):
        if self.cancel():
            self.send()

    def cancel(self) -> bool:
        """Disarm a waiting Enter; True if there was one (the caller then acts on it, exactly once)."""
        with self._lock:
            pending, self.pending = self.pending, None
        if pending is not None:
            pending.cancel()
        return pending is not None
