"""A Python child process for tests: its output is read by a thread, so every wait on it has a deadline.

A blocking readline has none, and a later communicate() would lose the lines readline had buffered.
"""

import queue
import subprocess
import sys
import threading
import time

import pytest


class Proc:
    """A Python child whose output a thread collects, so a test waits for a line with a deadline."""

    def __init__(self, code, *args):
        self.proc = subprocess.Popen([sys.executable, "-c", code, *map(str, args)], text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.pid, self.lines, self._queue = self.proc.pid, [], queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    @property
    def out(self):
        return "".join(self.lines)

    def wait_for(self, text, timeout=120):
        """The line containing `text` (fails with the output so far if the child ends or the deadline passes)."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"pid {self.pid} did not print {text!r} in {timeout} s; output:\n{self.out[-3000:]}")
            if line is None:
                pytest.fail(f"pid {self.pid} ended before printing {text!r}; output:\n{self.out[-3000:]}")
            self.lines.append(line)
        return next(line for line in self.lines if text in line)

    def finish(self, timeout=120):
        self.proc.wait(timeout=timeout)
        self.wait_for_end(timeout)
        return self.proc.returncode

    def wait_for_end(self, timeout):
        deadline = time.monotonic() + timeout
        while (line := self._queue.get(timeout=max(0.0, deadline - time.monotonic()))) is not None:
            self.lines.append(line)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
