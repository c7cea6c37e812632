"""The notebook on the other Phi models' stand-ins: nbval passes, and step 7 prints the prompt in that model's format.

(nbval's own run, `pytest --nbval-lax`, is on the tiny Phi-3; conftest.py points it there.)
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "phi3_openvino_chat.ipynb"
OTHERS = ["phi-3.5-mini", "phi-4-mini"]


@pytest.mark.parametrize("member", OTHERS, indirect=True)
def test_nbval_passes_on_the_stand_in(member, member_ov, tmp_path):
    env = {**os.environ, "PHI3NB_MODEL_ID": str(member_ov), "PHI3NB_MODEL_DIR": str(tmp_path / "unused"),
           "PHI3NB_MAX_NEW_TOKENS": "24"}
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(NOTEBOOK)],
                         env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"\d+ passed", run.stdout)
