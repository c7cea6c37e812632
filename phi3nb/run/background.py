"""A model loading in a background thread, so the chat box can show from second 0.

At full size load_genai takes 9-20 s (most of it the warm-up). LLMPipeline's constructor and generate
release the GIL, so the load runs beside the kernel: the box takes a message meanwhile and answers it when
the model is ready. load_genai itself stays blocking, for scripts and the CLI.
"""

import threading
import time

from ..cookbook import COOKBOOK_DEVICE


class ModelLoad:
    """`loader(report)` run in a daemon thread; `report(line)` is its progress, `result()` its model or error.

    A box subscribes with `subscribe(on_line, on_done)`: it gets the lines so far, then each new one, then
    `on_done()` once, from the loading thread (or at once, if the load already ended).
    """

    def __init__(self, loader, name="the model"):
        self.name, self.lines, self.model, self.error = name, [], None, None
        self.started, self.ended = time.perf_counter(), None
        self._lock, self._done, self._listeners = threading.Lock(), threading.Event(), []
        self._thread = threading.Thread(target=self._run, args=(loader,), name="phi3nb-load", daemon=True)
        self._thread.start()

    def _run(self, loader):
        try:
            self.model = loader(self._report)
        except BaseException as e:  # noqa: BLE001 - whatever stops the load is the box's to show
            self.error = e
        with self._lock:
            self.ended = time.perf_counter()
            self._done.set()
            listeners = list(self._listeners)
        for _, on_done in listeners:
            on_done()

    def _report(self, line):
        with self._lock:
            self.lines.append(str(line))
            listeners = list(self._listeners)
        for on_line, _ in listeners:
            on_line(str(line))

    def subscribe(self, on_line, on_done):
        """Replay the lines so far into on_line, then follow; on_done() once the load has ended."""
        with self._lock:
            lines, done = list(self.lines), self._done.is_set()
            if not done:
                self._listeners.append((on_line, on_done))
        for line in lines:
            on_line(line)
        if done:
            on_done()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def elapsed(self) -> float:
        """Seconds since the load started, or that it took once it has ended."""
        return (self.ended or time.perf_counter()) - self.started

    def wait(self, timeout=None) -> bool:
        """True once the load has ended (either way) within `timeout` seconds."""
        return self._done.wait(timeout)

    def result(self, timeout=None):
        """The model, once loaded; the load's own error if it failed; TimeoutError if it is still loading."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.name} is still loading after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.model


def load_genai_in_background(model_dir, device=COOKBOOK_DEVICE, ov_config=None) -> ModelLoad:
    """load_genai(model_dir, device, ov_config) in a background thread, for `ChatBox(...)` to show at once.

    The box shows the load's lines as they come and answers a message typed meanwhile once the model is
    ready; `.result()` blocks for the model, as load_genai would.
    """
    from .genai import load_genai

    return ModelLoad(lambda report: load_genai(model_dir, device, ov_config, report=report),
                     name=f"the model in {model_dir}")
