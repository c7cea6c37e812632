"""A blocking call run in a thread of its own, so that Ctrl-C (JupyterLab's Interrupt) reaches the caller at once.

Blocked in genai's C++ with the GIL released, the main thread would see a Ctrl-C only once the whole reply had
been written. The caller decides what a Ctrl-C does (on_interrupt): ask the work to stop, or leave.
"""

import threading


def call_in_thread(work, on_interrupt, name):
    """work() in a daemon thread; each Ctrl-C while it runs calls on_interrupt(the KeyboardInterrupt), which may
    raise it to stop waiting. Returns work()'s result or raises its exception, in the caller's thread."""
    done, out = threading.Event(), {}

    def run():
        try:
            out["result"] = work()
        except BaseException as e:  # noqa: BLE001 - raised again in the caller's thread
            out["error"] = e
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    while not done.is_set():  # an Event in steps, not Thread.join: a Ctrl-C inside join can leave is_alive()
        try:                  # False too early (Python 3.11)
            done.wait(0.1)
        except KeyboardInterrupt as e:
            on_interrupt(e)
    if "error" in out:
        raise out["error"]
    return out["result"]
