"""One writer at a time for a folder: a lock beside it that says who holds it, and a wait with a limit.

filelock's `.NAME.lock` does the locking (the kernel frees it when its process dies). Beside it the holder
keeps `.NAME.holder`: its pid, host, start, what it writes, and the `[phi3nb]` lines it has printed, so a
second notebook exporting to the same folder can say whom it waits for, follow that export's steps, and
give up after the number of seconds its caller chose.
"""

import contextlib
import errno
import json
import os
import socket
import sys
import time
from pathlib import Path

from ...errors import Phi3nbError

POLL = 0.5  # seconds between two looks at the holder's record while waiting


def sibling(path, kind) -> Path:
    """`.NAME.partial` (being written), `.NAME.old` (mid-swap), `.NAME.lock` or `.NAME.holder` beside NAME."""
    path = Path(path)
    return path.with_name(f".{path.name}.{kind}")


def export_running(path) -> bool:
    """True while another process holds the lock of `path` (an export is being written now)."""
    from filelock import FileLock, Timeout

    lock = sibling(path, "lock")
    if not lock.exists():
        return False
    probe = FileLock(lock)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:  # e.g. a read-only folder: nobody can be exporting there
        return False
    probe.release()
    return False


def check_wait(wait):
    """Reject a `wait` that is not None or a number of seconds, before any work is done."""
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0):
        raise Phi3nbError(f"wait={wait!r} is invalid: use a number of seconds (0 or more), or None to wait for "
                          "another export to the same folder as long as it takes.")


@contextlib.contextmanager
def holding(folder, what: dict, wait=None, *, only_if_free=False):
    """Hold `folder`'s lock while the body runs, recording who holds it and the `[phi3nb]` lines it prints.

    `what` (e.g. the source and flags) goes into the record. `wait`: seconds to wait for another holder,
    None as long as it takes; then a Phi3nbError names the holder. only_if_free: yield False at once,
    holding nothing, if another process holds the lock or it cannot be created; else yields True.
    """
    check_wait(wait)
    folder = Path(folder)
    lock = _take(folder, 0 if only_if_free else wait, quiet=only_if_free)
    if lock is None:
        yield False
        return
    record = _Record(sibling(folder, "holder"), what)
    tee = _Tee(sys.stdout, record.add)
    try:
        record.save()
        with contextlib.redirect_stdout(tee):
            yield True
    finally:
        tee.note = None  # a stream that kept the tee (a library's console) must not write a record later
        try:
            record.remove()  # under the lock, so no later holder's record is removed
        finally:
            lock.release()


def _take(folder, wait, quiet):
    """The acquired FileLock; None if `quiet` and it is taken or cannot be made; else waits up to `wait`."""
    from filelock import FileLock, Timeout

    lock = FileLock(sibling(folder, "lock"))
    try:
        os.makedirs(folder.parent, exist_ok=True)
        try:
            lock.acquire(timeout=0)
            return lock
        except Timeout:
            if quiet:
                return None
        watch = _Watch(folder)
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            watch.show()
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise Phi3nbError(watch.gave_up(wait))
            try:
                lock.acquire(timeout=POLL if left is None else min(POLL, left))
                return lock
            except Timeout:
                pass
    except OSError as e:
        if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        if quiet:
            return None
        raise Phi3nbError(
            f"Cannot write next to {folder} ({e.strerror}): export to a folder you can write to. A folder "
            "that already holds an OpenVINO model is used as it is: pass it as the model id.") from None


class _Record:
    """The holder's `.NAME.holder`, replaced whole at each change so a reader never sees half of it."""

    def __init__(self, path, what):
        self.path = path
        self.data = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                     "process_start": _process_start(os.getpid()), **what, "progress": []}

    def add(self, line):
        self.data["progress"].append(line)
        self.save()

    def save(self):
        tmp = self.path.with_name(self.path.name + ".tmp")
        with contextlib.suppress(OSError):  # a record that cannot be written must not stop the export
            tmp.write_text(json.dumps(self.data))
            os.replace(tmp, self.path)

    def remove(self):
        for path in (self.path, self.path.with_name(self.path.name + ".tmp")):
            with contextlib.suppress(OSError):
                os.unlink(path)


class _Tee:
    """sys.stdout as it was, which also hands each complete `[phi3nb]` line to `note`."""

    def __init__(self, out, note):
        self._out, self.note, self._line = out, note, ""

    def write(self, text):
        written = self._out.write(text)
        *done, self._line = (self._line + text).split("\n")
        for line in done:
            line = line.rsplit("\r", 1)[-1]  # a progress bar redraws its line after "\r"
            if line.startswith("[phi3nb]") and self.note:
                self.note(line)
        self._line = self._line.rsplit("\r", 1)[-1]
        return written

    def __getattr__(self, name):
        return getattr(self._out, name)


def _process_start(pid):
    """When `pid` started (psutil's create_time, seconds since the epoch on every OS), so a reused pid is not
    taken for the holder; None if it cannot be read (no such process, or one the OS will not describe)."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.Error, OSError):
        return None


def _alive(record) -> bool:
    """Whether the process a record names still runs (one on another host is taken to: it cannot be checked).

    psutil, not os.kill(pid, 0): on Windows signal 0 is CTRL_C_EVENT, which fails (WinError 87) or sends a
    Ctrl-C to another console's processes."""
    import psutil

    if record.get("host") != socket.gethostname():
        return True
    pid = record["pid"]
    if not psutil.pid_exists(pid):
        return False
    start = record.get("process_start")
    if not isinstance(start, (int, float)):
        return True
    try:
        now = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    except (psutil.Error, OSError):  # another user's process the OS will not describe: it exists
        return True
    return abs(now - start) < 0.01  # create_time is the same reading each time for one process


def _lock_holders(lock):
    """The processes (psutil.Process) other than this one that have `lock` open, as `fuser` would list them,
    from those the OS lets this user see (another user's stay hidden)."""
    import psutil

    try:
        target = os.path.normcase(os.path.realpath(lock))
    except OSError:
        return []
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            if any(os.path.normcase(os.path.realpath(f.path)) == target for f in proc.open_files()):
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def _describe_process(proc):
    """"pid N (name, since ...)" for a psutil.Process, as much as the OS tells."""
    import psutil

    try:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(proc.create_time()))
        return f"pid {proc.pid} ({proc.name()}, since {since})"
    except (psutil.Error, OSError):  # it may end or hide itself meanwhile
        return f"pid {proc.pid}"


def _read(path):
    try:
        record = json.loads(path.read_text())
        return record if isinstance(record.get("pid"), int) else None
    except (OSError, ValueError, AttributeError):
        return None


class _Watch:
    """What a waiting caller prints: whom it waits for, then each new line of the holder's progress."""

    def __init__(self, folder):
        self.folder, self.path = folder, sibling(folder, "holder")
        self.said_wait, self.holder, self.shown = False, None, 0

    def _live_record(self):
        record = _read(self.path)
        return record, (record if record is not None and _alive(record) else None)

    def show(self):
        _, live = self._live_record()
        key = None if live is None else (live["pid"], live["host"], live["started"])
        if not self.said_wait:
            who = f" ({_describe(live)})" if live else ""
            print(f"[phi3nb] another export to {self.folder} is running{who}; waiting for it to finish...",
                  flush=True)
            self.said_wait = True
        elif key is not None and key != self.holder:
            print(f"[phi3nb] the export to {self.folder} is now run by {_describe(live)}", flush=True)
        if key != self.holder:
            self.holder, self.shown = key, 0
        if live is not None:
            for line in live.get("progress", [])[self.shown:]:
                print(f"[phi3nb]   the other export: {line.removeprefix('[phi3nb] ')}", flush=True)
            self.shown = max(self.shown, len(live.get("progress", [])))

    def gave_up(self, wait):
        record, live = self._live_record()
        if live is not None:
            last = live.get("progress") or ["(no progress line yet)"]
            return (f"Gave up after waiting {wait:g} s for the export to {self.folder}: {_describe(live)} is "
                    f"writing it (last step: {last[-1].removeprefix('[phi3nb] ')}). Wait longer (wait=None waits "
                    "until it ends), or export to another folder; if that export is stuck, stop it (interrupt "
                    f"or restart the kernel that runs it, or end process {live['pid']} on {live['host']}: "
                    f"`kill {live['pid']}`, or Task Manager on Windows) and run this again.")
        stale = ""
        if record is not None:
            stale = (f" (the record beside it names pid {record['pid']} on {record.get('host')}, which has ended, "
                     "so it is not that one)")
        lock = sibling(self.folder, "lock")
        holders = _lock_holders(lock)
        if holders:
            who = ("; it is open in " + ", ".join(_describe_process(p) for p in holders) +
                   ": if that is stuck, end it (`kill PID`, or Task Manager on Windows) and run this again")
        else:
            who = "; no process this user can see has it open (it may be another user's, or on another host)"
        return (f"Gave up after waiting {wait:g} s for the export to {self.folder}: another process holds its lock "
                f"{lock} but has not said who it is{stale}. Wait longer (wait=None waits until it ends), or export "
                f"to another folder{who}.")


def _describe(record):
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record["started"]))
    what = f", exporting {record['source']} with {record.get('flags')}" if "source" in record else ""
    return f"pid {record['pid']} on {record['host']}, since {since}{what}"
