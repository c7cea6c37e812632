"""Re-exporting to a folder whose model is loaded, as Windows answers it: a folder holding an open (or mapped)
file cannot be renamed, nor that file deleted. The OS calls are made to refuse as Windows does (PermissionError,
WinError 5 or 32) while the test holds a file under the folder open, as a loaded model does. The export stops
with a Phi3nbError that names the holder and what to do, and never leaves `.NAME.old` or `.NAME.partial` behind
unsaid."""

import gc
import os
import sys
import types

import psutil
import pytest

from phi3nb import Phi3nbError
from phi3nb.export.folder import swap
from phi3nb.export.folder.lock import sibling
from phi3nb.export.folder.swap import FolderInUse, read_manifest, write_once


class WindowsRefusals:
    """os.rename/os.replace refuse a path that is, or holds, a file this process has open (WinError 5); with
    `deletes`, os.unlink/os.rmdir refuse it too (WinError 32), as shutil.rmtree meets them; `renames=False` lets
    folders be renamed (Windows does, for a file mapped but no longer open by a handle)."""

    def __init__(self, monkeypatch, renames=True, deletes=True):
        self.refused = []
        if renames:
            for name in ("rename", "replace"):
                monkeypatch.setattr(os, name, self.wrap(name, getattr(os, name), 5, "Access is denied"))
        if deletes:
            for name in ("unlink", "rmdir"):
                monkeypatch.setattr(os, name, self.wrap(name, getattr(os, name), 32, "The process cannot access "
                                                        "the file because it is being used by another process"))

    def wrap(self, name, real, winerror, words):
        def refusing(path, *args, **kwargs):
            full = os.fspath(path)
            if kwargs.get("dir_fd") is not None:  # rmtree's inner calls: name relative to an open folder
                full = os.path.join(os.readlink(f"/proc/self/fd/{kwargs['dir_fd']}"), full)
            if self.busy(full):
                self.refused.append((name, os.path.basename(full)))
                raise PermissionError(13, words, os.fspath(path), winerror)
            return real(path, *args, **kwargs)
        return refusing

    @staticmethod
    def busy(path):
        path = os.path.realpath(path)
        return any(f.path == path or f.path.startswith(path + os.sep) for f in psutil.Process().open_files())


def writer(tag, calls, during=None):
    def write(partial):
        calls.append(tag)
        for name in ("a", "b"):
            (partial / name).write_text(tag)
        if during:
            during()
    return write


def export(out, tag, calls, during=None):
    return write_once(out, "src", {"tag": tag}, writer(tag, calls, during), {}, check=lambda folder: None)


def beside(out):
    return sorted(p.name for p in out.parent.iterdir() if p.name != out.name)


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    monkeypatch.setattr(swap, "RETRY_S", (0, 0))


def test_a_loaded_models_folder_stops_the_export_before_any_work(tmp_path, monkeypatch):
    out, calls = tmp_path / "out", []
    export(out, "v1", calls)
    monkeypatch.setattr(sys.modules["__main__"], "ov_model", types.SimpleNamespace(model_save_dir=out),
                        raising=False)  # what the notebook's step 4 leaves
    model_file = open(out / "a")  # the loaded model's weights, open
    try:
        with monkeypatch.context() as m:
            refusals = WindowsRefusals(m)
            with pytest.raises(FolderInUse) as info:
                export(out, "v2", calls)
        said = str(info.value)
        assert isinstance(info.value, Phi3nbError) and refusals.refused
        assert f"Cannot replace {out}" in said and "`ov_model` (SimpleNamespace)" in said
        assert "`ov_model = None`" in said and "restart the kernel" in said and "Nothing was written" in said
        assert calls == ["v1"]  # stopped before minutes of export
        assert (out / "a").read_text() == "v1" and beside(out) == [".out.lock"]  # no .old, no .partial
    finally:
        model_file.close()
    export(out, "v2", calls)  # released: the export goes through
    assert (out / "a").read_text() == "v2" and beside(out) == [".out.lock"]


def test_a_refusal_at_the_swap_keeps_the_finished_export_for_the_next_run(tmp_path, monkeypatch, capsys):
    """The model is loaded while the export runs: the swap is refused, the new export waits whole beside."""
    out, calls, opened = tmp_path / "out", [], []
    export(out, "v1", calls)
    try:
        with monkeypatch.context() as m:
            WindowsRefusals(m)
            with pytest.raises(FolderInUse) as info:
                export(out, "v2", calls, during=lambda: opened.append(open(out / "a")))
        said = str(info.value)
        assert f"this kernel (pid {os.getpid()}) has a open" in said and "`ov_model = None`" in said
        assert f"The new export is complete in {sibling(out, 'partial')}" in said
        assert (out / "a").read_text() == "v1" and read_manifest(sibling(out, "partial"))["flags"] == {"tag": "v2"}
        assert beside(out) == [".out.lock", ".out.partial"]
    finally:
        opened[0].close()
    export(out, "v2", calls)
    assert calls == ["v1", "v2"]  # moved into place, not exported again
    assert (out / "a").read_text() == "v2" and beside(out) == [".out.lock"]
    assert "moving into place the export an earlier run completed" in capsys.readouterr().out


def test_asking_again_for_what_the_folder_holds_drops_a_waiting_export_of_other_flags(tmp_path, monkeypatch):
    out, calls, opened = tmp_path / "out", [], []
    export(out, "v1", calls)
    try:
        with monkeypatch.context() as m:
            WindowsRefusals(m, deletes=False)
            with pytest.raises(FolderInUse):
                export(out, "v2", calls, during=lambda: opened.append(open(out / "a")))
            assert export(out, "v1", calls) == out  # the folder holds v1, still in use: reused
        assert (out / "a").read_text() == "v1" and beside(out) == [".out.lock"]
    finally:
        opened[0].close()


def test_an_old_export_that_cannot_be_deleted_yet_is_said_and_deleted_next_time(tmp_path, monkeypatch, capsys):
    """Windows may let the folder be renamed but not a mapped file in it be deleted."""
    out, calls = tmp_path / "out", []
    export(out, "v1", calls)
    model_file = open(out / "a")
    try:
        with monkeypatch.context() as m:
            WindowsRefusals(m, renames=False)
            export(out, "v2", calls)
        said = capsys.readouterr().out
        assert (out / "a").read_text() == "v2" and beside(out) == [".out.lock", ".out.old"]
        assert f"could not delete {sibling(out, 'old')}" in said and "a is in use" in said and "ov_model = None" in said
    finally:
        model_file.close()
    export(out, "v2", calls)  # reused; the leftover goes
    assert beside(out) == [".out.lock"] and calls == ["v1", "v2"]


def test_a_model_nobody_holds_any_more_is_let_go_by_a_garbage_collection(tmp_path, monkeypatch):
    out, calls = tmp_path / "out", []
    export(out, "v1", calls)
    gc.disable()
    try:
        model = types.SimpleNamespace(weights=open(out / "a"))
        model.self = model  # a cycle: only the garbage collector frees it
        del model
        with monkeypatch.context() as m:
            WindowsRefusals(m)
            export(out, "v2", calls)
    finally:
        gc.enable()
    assert (out / "a").read_text() == "v2" and beside(out) == [".out.lock"]
