"""Two exports to one folder at once (two notebooks, a double Run All) end in one complete export.

The two-process test holds the first export just before its swap, the worst moment, until the
second one has said that it waits; without the lock the second deletes the first's partial folder.
"""

import json
import os
import shutil

import pytest

from phi3nb import Phi3nbError, check_model_dir, export_model, load_model
from phi3nb.export.folder.swap import MANIFEST
from phi3nb.export.folder.model_dir import sibling
from child_process import Proc

# The first process: a real export that pauses after writing its files, until `release` exists.
HELD_EXPORT = """
import pathlib, sys, time
import phi3nb.export.convert as export
real = export.run_export
def held(*args):
    real(*args)
    print("written, holding", flush=True)
    while not pathlib.Path(sys.argv[3]).exists():
        time.sleep(0.05)
export.run_export = held
export.export_model(sys.argv[1], sys.argv[2])
"""


def test_second_export_waits_then_reuses_the_first(tiny_phi3_hf, tmp_path):
    out, release = tmp_path / "int4", tmp_path / "release"
    first = Proc(HELD_EXPORT, tiny_phi3_hf, out, release)
    second = None
    try:
        first.wait_for("written, holding")
        second = Proc("import sys, phi3nb; phi3nb.export_model(sys.argv[1], sys.argv[2])", tiny_phi3_hf, out)
        second.wait_for("waiting")
        release.touch()
        assert first.finish(180) == 0, first.out[-3000:]
        assert second.finish(180) == 0, second.out[-3000:]
    finally:
        for child in (first, second):
            if child is not None:
                child.kill()
    second_out = second.out
    assert second_out.count("another export to") == 1 and "reusing it" in second_out
    own = [line for line in second_out.splitlines() if line.startswith("[phi3nb] 1/3 converting")]
    assert not own, second_out  # it did not export a second time...
    assert "the other export: 1/3 converting" in second_out, second_out  # ...and showed the first one's progress
    assert check_model_dir(out) == out
    assert json.loads((out / MANIFEST).read_text())["source"] == str(tiny_phi3_hf)
    assert not sibling(out, "partial").exists() and not sibling(out, "old").exists()
    load_model(out, device="CPU")


def test_a_running_export_is_not_called_interrupted(tmp_path):
    from filelock import FileLock

    out = tmp_path / "int4"
    sibling(out, "partial").mkdir()
    with FileLock(sibling(out, "lock")):
        with pytest.raises(Phi3nbError, match="Another export to it is running now: wait") as running:
            check_model_dir(out)
    assert "interrupted" not in str(running.value)
    with pytest.raises(Phi3nbError, match="interrupted"):  # the lock is free: nobody is writing it
        check_model_dir(out)


def _fake_export(tiny_phi3_ov, calls):
    """A stand-in for run_export that copies the tiny export (fast), recording each source."""
    def run(source, target, *args):
        calls.append(source)
        for p in tiny_phi3_ov.iterdir():
            if p.name != MANIFEST:
                shutil.copy(p, target / p.name)
    return run


def test_another_sources_export_is_replaced_naming_both(tiny_phi3_hf, tiny_phi3_ov, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("phi3nb.export.convert.run_export", _fake_export(tiny_phi3_ov, calls))
    other = tmp_path / "other-src"
    shutil.copytree(tiny_phi3_hf, other)
    out = export_model(other, tmp_path / "out")
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    export_model(os.path.relpath(tiny_phi3_hf, tmp_path), out)  # a relative spelling of a local source
    said = capsys.readouterr().out
    assert f"export of {other}, not of {tiny_phi3_hf}" in said
    assert json.loads((out / MANIFEST).read_text())["source"] == str(tiny_phi3_hf)  # stored absolute
    assert calls == [str(other), str(tiny_phi3_hf)]


def test_a_damaged_export_is_not_reused(tiny_phi3_hf, tiny_phi3_ov, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    shutil.copytree(tiny_phi3_ov, out)
    (out / "openvino_model.bin").unlink()
    calls = []
    monkeypatch.setattr("phi3nb.export.convert.run_export", _fake_export(tiny_phi3_ov, calls))
    export_model(tiny_phi3_hf, out)
    assert "its export is damaged" in capsys.readouterr().out
    assert calls and check_model_dir(out) == out


def test_a_swap_cut_halfway_is_recovered_from_old(tiny_phi3_hf, tiny_phi3_ov, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    shutil.copytree(tiny_phi3_ov, sibling(out, "old"))  # renamed aside, then the process died
    shutil.copytree(tiny_phi3_ov, sibling(out, "partial"))
    (sibling(out, "partial") / MANIFEST).unlink()  # not committed: the new export was not finished
    calls = []
    monkeypatch.setattr("phi3nb.export.convert.run_export", _fake_export(tiny_phi3_ov, calls))
    assert export_model(tiny_phi3_hf, out) == out
    said = capsys.readouterr().out
    assert "restoring" in said and "reusing it" in said
    assert calls == [] and check_model_dir(out) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]


def test_a_finished_export_cut_off_mid_swap_is_kept(tiny_phi3_hf, tiny_phi3_ov, tmp_path, monkeypatch, capsys):
    """The new export was complete (its manifest written) when the process died between the two renames."""
    out = tmp_path / "out"
    old = shutil.copytree(tiny_phi3_ov, sibling(out, "old"))
    manifest = json.loads((old / MANIFEST).read_text())
    (old / MANIFEST).write_text(json.dumps({**manifest, "flags": {"weight_format": "int8"}}))  # the previous one
    shutil.copytree(tiny_phi3_ov, sibling(out, "partial"))
    calls = []
    monkeypatch.setattr("phi3nb.export.convert.run_export", _fake_export(tiny_phi3_ov, calls))
    assert export_model(tiny_phi3_hf, out) == out
    said = capsys.readouterr().out
    assert "moving into place" in said and "reusing it" in said
    assert calls == [] and json.loads((out / MANIFEST).read_text()) == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]
