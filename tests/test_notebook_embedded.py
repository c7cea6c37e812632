"""The notebook on the embedded model: nbval passes and papermill's run shows a coherent answer."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from phi3nb.quality import repeated_ngram

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "phi3_openvino_chat.ipynb"


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory):
    from phi3nb.embedded import prepare_embedded_model

    prepare_embedded_model()  # once, here, so the kernels below only load it
    return {**os.environ, "PHI3NB_MODEL_ID": "embedded", "PHI3NB_MAX_NEW_TOKENS": "160",
            "PHI3NB_MODEL_DIR": str(tmp_path_factory.mktemp("unused"))}


def test_nbval_passes_on_the_embedded_model(embedded_env):
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(NOTEBOOK)],
                         env=embedded_env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"\d+ passed", run.stdout)


def test_papermill_run_answers_coherently(embedded_env, tmp_path):
    import papermill

    out = tmp_path / "out.ipynb"
    nb = papermill.execute_notebook(str(NOTEBOOK), str(out), parameters={"MODEL_ID": "embedded", "MAX_NEW_TOKENS": 160},
                                    kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    step10 = next(c for c in nb.cells if c.cell_type == "code" and "decoded_answer = " in c.source)
    answer = "".join(o.get("text", "") for o in step10.outputs)
    words = re.findall(r"[A-Za-z']+", answer)
    assert len(words) >= 20, answer
    assert repeated_ngram(answer) is None, answer
    assert "<|im_start|>" not in answer and "You are a helpful AI assistant" not in answer
