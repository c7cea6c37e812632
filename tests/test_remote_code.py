"""A model's own Python runs only with an explicit trust_remote_code=True, and every refusal says how to allow it.

The stand-in model's config names a type transformers does not know and points (auto_map) to a .py file that
writes a marker file when imported: the marker proves whether its code ran.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import phi3nb
from phi3nb import Phi3nbError, export_model, load_model, load_tokenizer
from phi3nb.cli import main

CANARY_CONFIG = {"model_type": "phi3nb_canary", "hidden_size": 256, "num_attention_heads": 4,
                 "auto_map": {"AutoConfig": "configuration_canary.CanaryConfig",
                              "AutoModelForCausalLM": "modeling_canary.CanaryForCausalLM"}}


def plant_canary(folder, marker):
    """Make `folder` a model that needs its own code; importing that code writes `marker`, then stops."""
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CANARY_CONFIG))
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\nraise RuntimeError('canary ran')\n"
    for name in ("configuration_canary.py", "modeling_canary.py", "tokenization_canary.py"):
        (folder / name).write_text(code)
    return folder


def says_how_to_allow(message, name):
    assert str(name) in message and "Python code" in message and "would run that code" in message, message
    for way in ("trust_remote_code=True", "--trust-remote-code", "PHI3NB_TRUST_REMOTE_CODE=1"):
        assert way in message, (way, message)


def test_export_refuses_a_model_that_needs_its_own_code_before_it_runs(tmp_path):
    marker = tmp_path / "MARKER"
    source = plant_canary(tmp_path / "canary", marker)
    with pytest.raises(Phi3nbError) as info:
        export_model(source, tmp_path / "out")
    says_how_to_allow(str(info.value), source)
    assert not marker.exists(), "the repository's code ran without consent"
    assert [p.name for p in tmp_path.iterdir()] == ["canary"]  # no export folder, no partial, no lock


def test_the_cli_export_says_the_same_and_exits_2(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    source = plant_canary(tmp_path / "canary", marker)
    assert main(["export", str(source), str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    says_how_to_allow(captured.err, source)
    assert "Same as:" not in captured.out and not marker.exists()


@pytest.mark.parametrize("trust", ["0", "False", 1, None])
def test_only_true_counts_as_consent(tmp_path, trust):
    marker = tmp_path / "MARKER"
    with pytest.raises(Phi3nbError, match="is not True or False"):
        export_model(plant_canary(tmp_path / "canary", marker), tmp_path / "out", trust_remote_code=trust)
    assert not marker.exists()


def test_explicit_trust_runs_the_repositorys_code(tmp_path):
    """The same stand-in with trust_remote_code=True: its code runs (in a child, so transformers' module
    cache goes to tmp_path)."""
    marker = tmp_path / "MARKER"
    source = plant_canary(tmp_path / "canary", marker)
    script = textwrap.dedent(f"""
        import phi3nb
        try:
            phi3nb.export_model({str(source)!r}, {str(tmp_path / 'out')!r}, trust_remote_code=True)
        except RuntimeError as e:
            print("stopped:", e)
    """)
    here = str(Path(phi3nb.__file__).parent.parent)  # the child imports the phi3nb under test
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "stopped: canary ran" in run.stdout, run.stdout + run.stderr[-2000:]
    assert marker.read_text() == "ran"


@pytest.fixture
def canary_export(tiny_phi3_ov, tmp_path):
    """A complete OpenVINO export whose config and tokenizer need the repository's code."""
    folder = tmp_path / "canary-ov"
    shutil.copytree(tiny_phi3_ov, folder)
    plant_canary(folder, tmp_path / "MARKER")
    return folder


def test_load_model_refuses_a_folder_that_needs_its_own_code(canary_export, tmp_path):
    with pytest.raises(Phi3nbError) as info:
        load_model(canary_export, device="CPU")
    says_how_to_allow(str(info.value), canary_export)
    assert not (tmp_path / "MARKER").exists()


def custom_tokenizer(folder):
    """Point `folder`'s tokenizer at the repository's tokenization_canary.py."""
    config = folder / "tokenizer_config.json"
    tok = json.loads(config.read_text())
    config.write_text(json.dumps({**tok, "tokenizer_class": "CanaryTokenizer",
                                  "auto_map": {"AutoTokenizer": ["tokenization_canary.CanaryTokenizer", None]}}))


def test_load_tokenizer_refuses_a_tokenizer_that_needs_its_own_code(canary_export, tmp_path):
    custom_tokenizer(canary_export)
    with pytest.raises(Phi3nbError) as info:
        load_tokenizer(canary_export)
    says_how_to_allow(str(info.value), canary_export)
    assert "No usable tokenizer" not in str(info.value)
    assert not (tmp_path / "MARKER").exists()


def test_the_cli_chat_refuses_it_with_the_same_message(canary_export, tmp_path, capsys):
    assert main(["chat", str(canary_export), "--backend", "optimum", "--device", "CPU"]) == 2
    says_how_to_allow(capsys.readouterr().err, canary_export)
    assert not (tmp_path / "MARKER").exists()
