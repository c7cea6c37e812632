"""A model that is already OpenVINO (a folder, or a repository like OpenVINO/Phi-3-mini-4k-instruct-int4-ov)
is used as it is: no torch, no conversion, no copy; through export_model and `phi3nb demo --model-id`.

The hub case runs offline on a Hugging Face cache the test lays out itself, as huggingface_hub
stores a download: hub/models--ORG--NAME/refs/main -> commit, snapshots/<commit>/ -> files.
"""

import os
import shutil
import subprocess
import sys

import pytest

from phi3nb import Phi3nbError, export_model

REPO = "OpenVINO/tiny-phi3-int4-ov"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def fake_hub_cache(home, model, repo=REPO):
    """`model`'s files as a cached download of `repo` under HF_HOME=`home`; returns the snapshot folder."""
    storage = home / "hub" / f"models--{repo.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(COMMIT)
    snapshot = storage / "snapshots" / COMMIT
    shutil.copytree(model, snapshot)
    return snapshot


def run(args, home, **kw):
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=600, **kw)


# export_model as the notebook's step 1 calls it; torch must never be imported on this path.
EXPORT = ("import sys, phi3nb; print('RESULT', phi3nb.export_model(sys.argv[1], sys.argv[2])); "
          "print('TORCH', 'torch' in sys.modules)")


def test_a_cached_hub_repository_is_used_as_it_is(tiny_phi3_ov, tmp_path):
    snapshot = fake_hub_cache(tmp_path / "hf", tiny_phi3_ov)
    done = run(["-c", EXPORT, REPO, str(tmp_path / "out")], tmp_path / "hf")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"RESULT {snapshot}" in done.stdout and "TORCH False" in done.stdout
    assert "already an OpenVINO model" in done.stdout
    assert not (tmp_path / "out").exists()


def test_a_local_openvino_folder_is_used_as_it_is(tiny_phi3_ov, tmp_path):
    folder = shutil.copytree(tiny_phi3_ov, tmp_path / "shared" / "phi3")
    (folder / "phi3nb_export.json").unlink()  # e.g. exported with optimum-cli, not phi3nb
    done = run(["-c", EXPORT, str(folder), str(tmp_path / "out")], tmp_path / "hf")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"RESULT {folder}" in done.stdout and "TORCH False" in done.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["hub", "folder"])
def test_demo_runs_on_a_preconverted_model(tiny_phi3_ov, tmp_path, where):
    model_id = REPO if where == "hub" else str(shutil.copytree(tiny_phi3_ov, tmp_path / "phi3"))
    if where == "hub":
        fake_hub_cache(tmp_path / "hf", tiny_phi3_ov)
    done = run(["-m", "phi3nb.cli", "demo", "--model-id", model_id, "--model-dir", str(tmp_path / "out"),
                "--device", "CPU", "--max-new-tokens", "4"], tmp_path / "hf", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nothing to export" in done.stdout and "optimum-cli" not in done.stdout
    assert "[phi3nb] load" in done.stdout  # the ten steps ran to the timing line
    assert not (tmp_path / "out").exists()


def test_an_incomplete_cached_download_says_to_finish_it(tiny_phi3_ov, tmp_path, monkeypatch):
    from huggingface_hub import constants

    snapshot = fake_hub_cache(tmp_path / "hf", tiny_phi3_ov)
    (snapshot / "openvino_model.bin").unlink()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    with pytest.raises(Phi3nbError, match="incomplete.*Run again with network access"):
        export_model(REPO, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_notebook_shows_what_made_the_folder(tiny_phi3_ov, tmp_path):
    from phi3nb import command_that_made

    made = command_that_made(tiny_phi3_ov)
    assert made.startswith("optimum-cli export openvino --model ") and "--weight-format int4 --group-size 128" in made
    folder = shutil.copytree(tiny_phi3_ov, tmp_path / "phi3")
    (folder / "phi3nb_export.json").unlink()
    assert command_that_made(folder) == f"# {folder} was used as it is: it already held an OpenVINO model, so nothing was exported."
