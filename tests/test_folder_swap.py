"""Ctrl-C, or a crash, at any file-system step of writing a folder: the old export or the new one is left whole.

`Faults` counts every rename, replace, unlink, rmdir and mkdir under the test's folder (shutil.rmtree's own
included) and each file the fake writer writes, and raises KeyboardInterrupt at step k. Each test runs k =
1, 2, ... until a call gets through, so every step is cut once. "interrupt" raises once, so the call's own
clean-up runs as after Ctrl-C; "die" fails every later step too, as if the process had been killed there.
"""

import os
import shutil

import pytest

from phi3nb import Phi3nbError
from phi3nb.export.folder.lock import sibling
from phi3nb.export.folder.swap import MANIFEST, read_manifest, write_once

NAMES = ("a", "b", "c")
OPS = ("rename", "replace", "unlink", "rmdir", "mkdir")


class Faults:
    def __init__(self, root, k, die):
        self.root, self.k, self.die, self.steps, self.done, self.cut = str(root), k, die, 0, [], None

    def step(self, what):
        self.steps += 1
        if self.steps == self.k or (self.die and self.steps > self.k):
            self.cut = self.cut or what
            raise KeyboardInterrupt(f"step {self.steps}: {what}")
        self.done.append(what)

    def wrap(self, name, real):
        def faulty(*args, **kwargs):
            path = os.fspath(args[0])
            if "dir_fd" in kwargs or path.startswith(self.root):  # rmtree's inner calls pass a dir_fd
                to = args[1] if name in ("rename", "replace") else ""
                self.step((name, os.path.basename(path), os.path.basename(os.fspath(to))))
            return real(*args, **kwargs)
        return faulty

    def install(self, monkeypatch):
        for name in OPS:
            monkeypatch.setattr(os, name, self.wrap(name, getattr(os, name)))

    @property
    def committed(self):
        """Whether the new export's manifest was in place before the cut."""
        return ("replace", f".{MANIFEST}.tmp", MANIFEST) in self.done


def writer(tag, calls, faults=None):
    """A stand-in export: three files holding `tag`, each a step that can be cut."""
    def write(partial):
        calls.append(tag)
        print(f"[phi3nb] 1/2 writing {tag}", flush=True)
        for name in NAMES:
            if faults:
                faults.step(("write", name, tag))
            (partial / name).write_text(tag)
    return write


def check(folder):
    """A folder is whole when all three files are there with one tag."""
    texts = {(folder / n).read_text() if (folder / n).is_file() else None for n in NAMES}
    if None in texts or len(texts) != 1:
        raise Phi3nbError(f"{folder} is incomplete ({texts})")


def holds(folder):
    """The tag of the whole export at `folder`, or None if there is none; fails on half of one."""
    if not folder.exists():
        return None
    check(folder)
    tag = (folder / "a").read_text()
    assert read_manifest(folder)["flags"] == {"tag": tag}
    return tag


def run(out, tag, calls):
    return write_once(out, "src", {"tag": tag}, writer(tag, calls), {}, check=check)


def attempt(out, tag, calls, k, die, monkeypatch):
    """A call cut at step k: its Faults, or None if it got through with fewer steps."""
    faults = Faults(out.parent, k, die)
    with monkeypatch.context() as m:
        faults.install(m)
        try:
            write_once(out, "src", {"tag": tag}, writer(tag, calls, faults), {}, check=check)
        except KeyboardInterrupt:
            return faults
    return None


def leftovers(out):
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


def each_cut(tmp_path, monkeypatch, old, die, name="k"):
    """For k = 1, 2, ...: a fresh folder (holding v1 if `old`) and a v2 call cut at step k, until one gets through."""
    for k in range(1, 200):
        root = tmp_path / f"{name}{k}"
        root.mkdir()
        out, calls = root / "out", []
        if old:
            run(out, "v1", calls)
        faults = attempt(out, "v2", calls, k, die, monkeypatch)
        if faults is None:
            assert k > 10, "the call got through before 10 steps: the faults do not reach it"
            return
        yield out, faults
    pytest.fail("the call never got through")


def recovers(out, finished, said):
    """The next call ends with v2 in place and nothing beside it, redoing v2 only if it was not `finished`."""
    again = []
    assert run(out, "v2", again) == out and holds(out) == "v2", said
    assert again == ([] if finished else ["v2"]), said  # a finished export is reused, not redone
    assert leftovers(out) == [".out.lock"], said


@pytest.mark.parametrize("old", [False, True], ids=["new folder", "replacing v1"])
def test_ctrl_c_at_any_step_leaves_a_whole_export_and_keeps_a_finished_one(tmp_path, monkeypatch, old, capsys):
    for out, faults in each_cut(tmp_path, monkeypatch, old, die=False):
        said = f"cut at step {faults.k} {faults.cut} after {faults.done}"
        # the call's own clean-up ran: a finished export is in place, else the old one (or none)
        assert holds(out) == ("v2" if faults.committed else "v1" if old else None), said
        assert set(leftovers(out)) <= {".out.lock", ".out.holder"}, said  # nothing half-done beside it
        recovers(out, faults.committed, said)
    assert "the export was complete when it was stopped: moving it into place" in capsys.readouterr().out


@pytest.mark.parametrize("old", [False, True], ids=["new folder", "replacing v1"])
def test_killed_at_any_step_the_next_call_recovers(tmp_path, monkeypatch, old):
    for out, faults in each_cut(tmp_path, monkeypatch, old, die=True):
        said = f"killed at step {faults.k} {faults.cut} after {faults.done}"
        if out.exists():
            assert holds(out) in ("v1", "v2"), said  # never half a folder in place
        elif old:  # between the two renames: the old export waits whole beside it
            assert holds(sibling(out, "old")) == "v1", said
        recovers(out, faults.committed, said)


def test_a_recovery_cut_at_any_step_is_finished_by_the_next_call(tmp_path, monkeypatch):
    """Killed at step j while replacing v1, then the next call is interrupted at each step k of its own."""
    cases = 0
    for j, (crashed, first) in enumerate(each_cut(tmp_path, monkeypatch, old=True, die=True, name="j"), 1):
        for k in range(1, 200):
            out = tmp_path / f"j{j}k{k}" / "out"
            shutil.copytree(crashed.parent, out.parent)  # the crash's state, afresh for each k
            second = attempt(out, "v2", [], k, False, monkeypatch)
            if second is None:
                break
            cases += 1
            said = f"killed at step {j} after {first.done}, then cut at step {k} after {second.done}"
            finished = first.committed or second.committed
            if ("replace", ".out.holder.tmp", ".out.holder") in second.done:  # it held the lock and began:
                assert holds(out) == ("v2" if finished else "v1"), said  # a whole export is in place
            recovers(out, finished, said)
    assert cases > 20, "too few cuts: the faults reach less than the recovery's steps"
