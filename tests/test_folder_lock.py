"""A caller waiting for another export to the same folder says whom it waits for, follows its steps, and can
give up after a time it chose; a record left by a process that has ended is never named as the exporter."""

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from phi3nb import Phi3nbError, export_model
from phi3nb.export.folder.lock import _process_start, sibling
from phi3nb.export.folder.swap import write_once
from child_process import Proc

# Holds the lock of argv[1] while its stand-in export prints three steps, each once argv[2]/<n> exists.
HOLDER = """
import pathlib, sys, time
from phi3nb.export.folder.swap import write_once
out, gate = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
def write(partial):
    for step in ("1/3 converting src", "2/3 saving the model", "3/3 saving the tokenizer"):
        print(f"[phi3nb] {step}", flush=True)
        deadline = time.monotonic() + 120
        while not (gate / step[0]).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    (partial / "a").write_text("x")
write_once(out, "src", {"tag": "x"}, write, {}, check=lambda folder: None)
"""

# Holds the lock as a bare filelock (as a phi3nb without records would) until argv[2] exists.
BARE_HOLDER = """
import pathlib, sys, time
from filelock import FileLock
with FileLock(sys.argv[1]):
    print("locked", flush=True)
    deadline = time.monotonic() + 120
    while not pathlib.Path(sys.argv[2]).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""

WAITER = """
import pathlib, sys
from phi3nb.export.folder.swap import write_once
write_once(pathlib.Path(sys.argv[1]), "src", {"tag": "x"}, None, {}, check=lambda folder: None)
"""


@pytest.fixture
def procs():
    started = []
    yield lambda *args: started.append(Proc(*args)) or started[-1]
    for proc in started:
        proc.kill()


def test_a_waiter_names_the_holder_and_follows_its_progress(tmp_path, procs):
    out, gate = tmp_path / "out", tmp_path / "gate"
    gate.mkdir()
    holder = procs(HOLDER, out, gate)
    holder.wait_for("[phi3nb] 1/3 converting src")
    waiter = procs(WAITER, out)
    said = waiter.wait_for("waiting for it to finish")
    assert f"pid {holder.pid} on {socket.gethostname()}" in said and "exporting src with {'tag': 'x'}" in said
    waiter.wait_for("the other export: 1/3 converting src")
    (gate / "1").touch()
    waiter.wait_for("the other export: 2/3 saving the model")  # read again as the holder moved on
    (gate / "2").touch()
    (gate / "3").touch()
    assert holder.finish() == 0, holder.out
    assert waiter.finish() == 0, waiter.out
    assert "reusing it" in waiter.out and waiter.out.count("another export to") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "gate", "out"]  # the record went with it


def test_a_bounded_wait_gives_up_naming_the_holder_and_what_to_do(tiny_phi3_hf, tmp_path, procs):
    out, gate = tmp_path / "out", tmp_path / "gate"
    gate.mkdir()
    holder = procs(HOLDER, out, gate)
    holder.wait_for("[phi3nb] 1/3 converting src")
    with pytest.raises(Phi3nbError, match="Gave up after waiting 0.2 s") as gave_up:
        export_model(tiny_phi3_hf, out, wait=0.2)
    said = str(gave_up.value)
    assert f"pid {holder.pid} on {socket.gethostname()}" in said and "last step: 1/3 converting src" in said
    assert f"kill {holder.pid}" in said and "Task Manager" in said and "wait=None" in said
    assert holder.proc.poll() is None  # giving up left the other export alone
    for step in "123":
        (gate / step).touch()
    assert holder.finish() == 0, holder.out


@pytest.mark.parametrize("reused", [False, True], ids=["pid gone", "pid reused"])
def test_a_record_left_by_an_ended_process_is_not_named_as_the_exporter(tmp_path, procs, capsys, reused):
    out, release = tmp_path / "out", tmp_path / "release"
    if reused:  # a live pid (this test's), but not the process that wrote the record: it started at another time
        dead, started = os.getpid(), {"process_start": _process_start(os.getpid()) - 1}
    else:
        ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        dead, started = int(ended.stdout), {}
    sibling(out, "holder").write_text(json.dumps({  # as a process killed mid-export leaves it
        "pid": dead, "host": socket.gethostname(), "started": time.time() - 60, **started, "source": "ghost",
        "flags": {}, "progress": ["[phi3nb] 1/3 converting ghost"]}))
    bare = procs(BARE_HOLDER, sibling(out, "lock"), release)
    bare.wait_for("locked")
    with pytest.raises(Phi3nbError, match="has not said who it is") as gave_up:
        write_once(out, "src", {"tag": "x"}, None, {}, check=lambda folder: None, wait=0.2)
    said = str(gave_up.value)
    assert f"pid {dead}" in said and "has ended" in said and "ghost" not in said
    assert f"it is open in pid {bare.pid} (" in said  # psutil finds who holds the lock file, as fuser would
    printed = capsys.readouterr().out
    assert "waiting for it to finish" in printed and f"pid {dead}" not in printed and "ghost" not in printed

    release.touch()
    assert bare.finish() == 0, bare.out
    write_once(out, "src", {"tag": "x"}, lambda partial: (partial / "a").write_text("x"), {},
               check=lambda folder: None, wait=0)  # the lock is free: no wait, whatever the record says
    assert "another export" not in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out", "release"]


def test_the_record_names_the_holder_keeps_its_lines_and_goes_with_it(tmp_path, capsys):
    out, seen = tmp_path / "out", {}

    def write(partial):
        print("[phi3nb] 1/3 converting src")
        print("a library's own line")
        seen["record"], seen["stdout"] = json.loads(sibling(out, "holder").read_text()), sys.stdout
        (partial / "a").write_text("x")
    write_once(out, "src", {"tag": "x"}, write, {}, check=lambda folder: None)
    record = seen["record"]
    assert (record["pid"], record["host"], record["source"], record["flags"]) == (
        os.getpid(), socket.gethostname(), "src", {"tag": "x"})
    assert record["progress"] == ["[phi3nb] 1/3 converting src"]
    print("[phi3nb] a late line", file=seen["stdout"])  # through a stream a library kept from the export
    assert not sibling(out, "holder").exists()
    assert "1/3 converting src\na library's own line\n" in capsys.readouterr().out  # the user still sees all


@pytest.mark.parametrize("wait", [-1, "10", True, float("nan")])
def test_a_wait_that_is_not_seconds_is_refused(tmp_path, wait):
    with pytest.raises(Phi3nbError, match=f"wait={wait!r} is invalid: use a number of seconds"):
        write_once(tmp_path / "out", "src", {}, None, {}, check=lambda folder: None, wait=wait)
    assert not any(tmp_path.iterdir())


def windows_kill(real):
    """os.kill as phi3nb's lock would meet it on Windows: signal 0 is CTRL_C_EVENT, refused (WinError 87) for a
    pid that is no console group. psutil's own POSIX code, which uses os.kill, keeps the real one."""
    def kill(pid, sig):
        if sys._getframe(1).f_globals.get("__name__", "").startswith("phi3nb."):
            raise OSError(22, "The parameter is incorrect", None, 87)
        return real(pid, sig)
    return kill


def test_liveness_needs_no_os_kill_and_tells_a_reused_pid(monkeypatch):
    """A holder's liveness comes from psutil on every OS: os.kill(pid, 0) would raise on Windows (or send Ctrl-C)."""
    from phi3nb.export.folder.lock import _alive

    monkeypatch.setattr(os, "kill", windows_kill(os.kill))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    here, me = socket.gethostname(), os.getpid()
    assert _alive({"pid": me, "host": here, "process_start": _process_start(me)})
    assert _alive({"pid": me, "host": here})  # a record without a start time: the pid is enough
    assert not _alive({"pid": me, "host": here, "process_start": _process_start(me) - 1})  # pid reused
    assert not _alive({"pid": int(ended.stdout), "host": here})
    assert _alive({"pid": int(ended.stdout), "host": here + "-elsewhere"})  # another host's: cannot be checked
