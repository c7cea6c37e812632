"""The notebook on the embedded model: nbval passes, and papermill's Run All is clean, coherent and shows what runs."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from quality import repeated_ngram

NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "phi3_openvino_chat.ipynb"
QUESTION = "can you introduce yourself?"
MAX_NEW_TOKENS = 160
# Appended to papermill's copy only: what is alive after Run All, and the kernel's peak memory.
PROBE = """\
import gc, resource
from optimum.intel.openvino import OVModelForCausalLM
gc.collect()
print("PROBE cookbook models alive:", sum(isinstance(o, OVModelForCausalLM) for o in gc.get_objects()))
print("PROBE chat max_new_tokens:", chat.max_new_tokens.value)
print("PROBE peak RSS MB:", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


@pytest.fixture(scope="module")
def embedded_env(tmp_path_factory):
    from phi3nb.export.embedded import prepare_embedded_model

    prepare_embedded_model()  # once, here, so the kernels below only load it
    return {**os.environ, "PHI3NB_MODEL_ID": "embedded", "PHI3NB_MAX_NEW_TOKENS": str(MAX_NEW_TOKENS),
            "PHI3NB_MODEL_DIR": str(tmp_path_factory.mktemp("unused"))}


@pytest.fixture(scope="module")
def run_all(embedded_env, tmp_path_factory):
    """The notebook run top to bottom by papermill on the embedded model, plus the PROBE cell."""
    import nbformat
    import papermill

    tmp = tmp_path_factory.mktemp("papermill")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    nbformat.write(nb, tmp / "in.ipynb")
    return papermill.execute_notebook(str(tmp / "in.ipynb"), str(tmp / "out.ipynb"),
                                      parameters={"MODEL_ID": "embedded", "MAX_NEW_TOKENS": MAX_NEW_TOKENS},
                                      kernel_name="python3", progress_bar=False, cwd=str(tmp))


def text_of(cell):
    return "".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")) for o in cell.outputs)


def cell_with(nb, code):
    return next(c for c in nb.cells if c.cell_type == "code" and code in c.source)


def test_nbval_passes_on_the_embedded_model(embedded_env):
    run = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(NOTEBOOK)],
                         env=embedded_env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:]
    assert re.search(r"\d+ passed", run.stdout)


def test_papermill_run_answers_coherently(run_all):
    answer = text_of(cell_with(run_all, "decoded_answer = "))
    words = re.findall(r"[A-Za-z']+", answer)
    assert len(words) >= 20, answer
    assert repeated_ngram(answer) is None, answer
    assert "<|im_start|>" not in answer and "You are a helpful AI assistant" not in answer


def test_run_all_shows_no_warning_traceback_or_errno(run_all):
    answer = text_of(cell_with(run_all, "decoded_answer = ")).strip()
    assert answer
    for cell in run_all.cells:
        if cell.cell_type != "code":
            continue
        kinds = {(o.output_type, o.get("name")) for o in cell.outputs}
        assert ("stream", "stderr") not in kinds and not any(k == "error" for k, _ in kinds), (cell.source, cell.outputs)
        said = text_of(cell).replace(answer, "")  # the model's own words may say anything
        # A Python warning prints as "file:line: SomethingWarning: message".
        assert not re.search(r"Traceback|Errno|[A-Z]\w*Warning:|warn\(", said), (cell.source, said)


def test_step1_prints_a_command_for_the_model_in_use(run_all):
    command = text_of(cell_with(run_all, "command_that_made(")).strip()
    args = shlex.split(command)
    assert args[:3] == ["optimum-cli", "export", "openvino"], command
    source, target = Path(args[args.index("--model") + 1]), Path(args[-1])
    assert (source / "config.json").is_file(), command  # a real folder, not the word "embedded"
    assert (target / "openvino_model.xml").is_file(), command
    assert "--trust-remote-code" not in args and "--weight-format" in args, command


def test_step7_prints_the_prompt_that_is_sent(run_all):
    from phi3nb import build_prompt, load_tokenizer
    from phi3nb.export.embedded import prepare_embedded_model

    sent = build_prompt(load_tokenizer(prepare_embedded_model()), QUESTION)
    assert "<|im_start|>user" in sent  # the embedded model's own template, not Phi-3's
    assert text_of(cell_with(run_all, "prompt = phi3nb.build_prompt(")) == sent + "\n"


def test_cookbook_decode_check_holds_on_the_embedded_model(run_all):
    shown = text_of(cell_with(run_all, "cookbook_answer = "))
    assert shown == "The cookbook's decode contains the system prompt: True\nThis one does: False\n", shown


def test_chat_frees_the_cookbook_model_and_honours_max_new_tokens(run_all):
    probe = text_of(run_all.cells[-1])
    assert "PROBE cookbook models alive: 0" in probe, probe
    assert f"PROBE chat max_new_tokens: {MAX_NEW_TOKENS}\n" in probe, probe
