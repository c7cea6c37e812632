"""An export killed midway (SIGKILL: no cleanup runs) leaves nothing that looks like a model; one stopped
with Ctrl-C after it was complete keeps it (tests/test_folder_swap.py cuts every step of the transaction)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from phi3nb import Phi3nbError, check_model_dir, export_model, load_model
from phi3nb.export.folder.swap import MANIFEST, read_manifest
from phi3nb.export.folder.model_dir import sibling


def test_sigkill_midway_then_the_next_call_finishes(tiny_phi3_hf, tmp_path):
    out, partial = tmp_path / "int4", tmp_path / ".int4.partial"
    code = f"import phi3nb; phi3nb.export_model({str(tiny_phi3_hf)!r}, {str(out)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        if partial.is_dir() and any(partial.iterdir()):  # files are being written
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the export finished before it could be killed"
    assert not out.exists()
    with pytest.raises(Phi3nbError, match="interrupted"):
        load_model(out, device="CPU")
    assert json.loads(sibling(out, "holder").read_text())["pid"] == proc.pid  # the killed holder's record

    export_model(tiny_phi3_hf, out, wait=0)  # the lock died with its process: nothing to wait for
    assert check_model_dir(out) == out and not partial.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".int4.lock", "int4"]


def test_ctrl_c_between_the_two_renames_keeps_the_finished_export(tiny_phi3_hf, tiny_phi3_ov, tmp_path,
                                                                    monkeypatch):
    out = shutil.copytree(tiny_phi3_ov, tmp_path / "out")
    new = read_manifest(out)
    (out / MANIFEST).write_text(json.dumps({**new, "flags": {"weight_format": "fp16"}}))  # an earlier export

    def fake_export(source, target, *args):
        for p in tiny_phi3_ov.iterdir():
            if p.name != MANIFEST:
                shutil.copy(p, target / p.name)
    monkeypatch.setattr("phi3nb.export.convert.run_export", fake_export)
    cut, rename = [], os.rename

    def ctrl_c_once(src, dst, *args, **kwargs):  # the old export is aside in .out.old, the new one complete
        if os.fspath(src) == str(sibling(out, "partial")) and not cut:
            cut.append(dst)
            raise KeyboardInterrupt
        return rename(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, "rename", ctrl_c_once)
    with pytest.raises(KeyboardInterrupt):
        export_model(tiny_phi3_hf, out)
    assert cut == [out] and not sibling(out, "partial").exists() and not sibling(out, "old").exists()
    assert check_model_dir(out) == out and read_manifest(out)["flags"] == new["flags"]  # the new one, in place
