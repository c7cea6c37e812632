"""The notebook on the other Phi models' stand-ins: nbval passes, and step 7 prints the prompt in that model's format.

(nbval's own run, `pytest --nbval-lax`, is on the tiny Phi-3; conftest.py points it there.) Step 7's print is
`nbval-ignore-output`, as its text is the model's: so the notebook is run up to that cell (papermill, a real
kernel, its own cells unedited) for each model, and what the cell printed is compared with the model's chat
template.
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


def run_up_to_step_7(model_id, work) -> str:
    """What the notebook's step-7 cell (the one calling build_prompt) prints, with MODEL_ID set to `model_id`:
    the notebook's cells up to that one, run by papermill in a kernel, on a copy (the notebook is not edited)."""
    import nbformat
    import papermill

    nb = nbformat.read(NOTEBOOK, as_version=4)
    step7 = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "build_prompt(" in c.source]
    assert len(step7) == 1, "the notebook should have one code cell that calls build_prompt (step 7)"
    nb.cells = nb.cells[:step7[0] + 1]
    nb.cells[-1].metadata["phi3nb_step7"] = True  # papermill inserts a parameters cell: find this one again
    head = work / "up-to-step-7.ipynb"
    nbformat.write(nb, head)
    done = papermill.execute_notebook(str(head), str(work / "ran.ipynb"), cwd=str(work), progress_bar=False,
                                      parameters={"MODEL_ID": str(model_id), "MODEL_DIR": str(work / "unused"),
                                                  "DEVICE": "CPU"})
    cell = next(c for c in done.cells if c.metadata.get("phi3nb_step7"))
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


@pytest.mark.parametrize("member", ["phi-3-mini", *OTHERS], indirect=True)
def test_step_7_prints_the_prompt_in_the_models_own_format(member, member_ov, tmp_path):
    """Phi-4-mini: exactly what its chat template renders. Phi-3 and Phi-3.5: the cookbook's prompt, which is
    their template's text less the newline the template puts after each tag; and the model's own tags."""
    from phi3nb import COOKBOOK_PROMPT, load_tokenizer
    from phi3nb.cookbook import COOKBOOK_QUESTION, COOKBOOK_SYSTEM

    name, entry = member
    printed = run_up_to_step_7(member_ov, tmp_path)
    assert printed.endswith("\n"), printed
    prompt = printed[:-1]  # print()'s newline

    tok = load_tokenizer(member_ov)
    assert tok.chat_template, f"{member_ov} lost its chat template"
    messages = [{"role": "system", "content": COOKBOOK_SYSTEM}, {"role": "user", "content": COOKBOOK_QUESTION}]
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if name == "phi-4-mini":
        assert prompt == rendered
    else:
        assert prompt == COOKBOOK_PROMPT and prompt != rendered
        assert prompt == re.sub(r"(<\|(?:system|user|assistant|end)\|>)\n", r"\1", rendered)
    tags = [t for t in re.findall(r"<\|[a-z]+\|>", prompt)]
    assert tags == ["<|system|>", "<|end|>", "<|user|>", "<|end|>", "<|assistant|>"]
    assert all(tok.convert_tokens_to_ids(t) == entry.specials[t] for t in tags)  # one token each, the model's id
