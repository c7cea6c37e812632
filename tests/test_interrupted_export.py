"""An export killed midway (SIGKILL: no cleanup runs) leaves nothing that looks like a model."""

import os
import signal
import subprocess
import sys
import time

import pytest

from phi3nb import Phi3nbError, check_model_dir, export_model, load_model


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

    export_model(tiny_phi3_hf, out)
    assert check_model_dir(out) == out and not partial.exists()
