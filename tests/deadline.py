"""Waiting on a condition with a deadline, never a fixed sleep: a busy 2-core machine is slow, not hung."""

import time


def wait_for(condition, what, deadline_s=60):
    """Return once condition() is true; fail naming `what` if it is not within deadline_s seconds."""
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
