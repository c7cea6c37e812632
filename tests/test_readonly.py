"""A JupyterHub's shared, read-only model folder: every entry point serves from it without writing
into it, and a CACHE_DIR that cannot be written moves to a per-user folder.

Read-only for real: a bind mount remounted ro (root ignores chmod), unmounted afterwards.
"""

import errno
import gc
import os
import shlex
import shutil
import subprocess
import sys

import pytest

import phi3nb
from phi3nb import OV_CONFIG, export_model, load_model, load_tokenizer


@pytest.fixture
def read_only(tmp_path):
    """read_only(folder) -> a read-only view of `folder`; skips where mounting is not permitted."""
    mounted = []

    def mount(src):
        view = tmp_path / f"ro-{src.name}"
        view.mkdir()
        for args in (["--bind", src, view], ["-o", "remount,bind,ro", view]):
            try:
                done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
            except OSError as e:
                pytest.skip(f"cannot run mount ({e}): this test needs a read-only bind mount")
            if done.returncode:
                pytest.skip(f"mounting is not permitted here ({done.stderr.strip()}): this test needs a "
                            "read-only bind mount (root, or a container with CAP_SYS_ADMIN)")
            if view not in mounted:
                mounted.append(view)
        with pytest.raises(OSError) as refused:  # the premise: nothing can be written there
            (view / ".probe").touch()
        assert refused.value.errno == errno.EROFS
        return view

    yield mount
    gc.collect()  # OpenVINO maps the weights: drop the test's models first
    for view in reversed(mounted):
        if subprocess.run(["umount", str(view)], capture_output=True).returncode:
            subprocess.run(["umount", "--lazy", str(view)], check=True)  # detached now, freed when unused


def _stamps(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_everything_serves_from_a_read_only_folder(tiny_phi3_ov, tiny_model, read_only, tmp_path, monkeypatch,
                                                   capsys):
    shared = tmp_path / "shared"
    shutil.copytree(tiny_phi3_ov, shared / "phi3")
    before = _stamps(shared)
    model_dir = read_only(shared) / "phi3"
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(model_dir)  # a relative CACHE_DIR lands in a read-only working folder too

    assert export_model(model_dir, tmp_path / "unused") == model_dir  # the notebook's step 1
    model = load_model(model_dir, device="CPU", ov_config={**OV_CONFIG, "CACHE_DIR": "model_cache"})
    tok = load_tokenizer(model_dir)
    answer = phi3nb.generate_answer(model, tok, "Hi", max_new_tokens=3)
    assert answer and answer == phi3nb.generate_answer(*tiny_model, "Hi", max_new_tokens=3)  # the same model
    genai = phi3nb.load_genai(model_dir, "CPU", ov_config={"CACHE_DIR": str(model_dir / "cache")})
    box = phi3nb.ChatBox(genai, tok, max_new_tokens=3)
    box.input.value = "Hello"
    box.send.click()
    assert box.wait(120) and box.last_error is None and len(box.history) == 1
    said = capsys.readouterr().out
    assert said.count("cannot write CACHE_DIR") == 2
    compiled = list((home / ".cache" / "phi3nb" / "compiled").iterdir())
    assert len(compiled) == 1 and any(compiled[0].iterdir())  # both backends cached there, per user
    box.reset()
    del model, genai, box

    demo = subprocess.run([sys.executable, "-m", "phi3nb.cli", "demo", "--model-id", str(model_dir),
                           "--model-dir", "model/out", "--device", "CPU", "--max-new-tokens", "3"],
                          capture_output=True, text=True, timeout=600, cwd=model_dir,
                          env={**os.environ, "HOME": str(home)})
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert _stamps(shared) == before and not (tmp_path / "unused").exists()


def test_the_embedded_model_from_a_read_only_phi3nb_home(read_only, monkeypatch):
    """A host prepares the embedded model once (`phi3nb prepare`) and shares PHI3NB_HOME read-only."""
    from phi3nb.export.embedded import prepare_embedded_model
    from phi3nb.export.paths import cache_dir

    prepare_embedded_model()  # the host's step, in the writable cache
    before = _stamps(cache_dir() / "embedded")
    view = read_only(cache_dir())
    monkeypatch.setenv("PHI3NB_HOME", str(view))
    assert prepare_embedded_model() == view / "embedded" / "ov-int8"
    phi3nb.check_model_dir(view / "embedded" / "ov-int8")
    assert _stamps(view / "embedded") == before
    command = shlex.split(phi3nb.command_that_made(view / "embedded" / "ov-int8"))
    assert command[command.index("--model") + 1] == str(view / "embedded" / "hf")  # the shared one, as mounted


def test_exporting_into_a_read_only_folder_says_where_to_export(tiny_phi3_hf, read_only, tmp_path):
    (tmp_path / "models").mkdir()
    view = read_only(tmp_path / "models")
    with pytest.raises(phi3nb.Phi3nbError, match="Cannot write next to .*export to a folder you can write to"):
        export_model(tiny_phi3_hf, view / "int4")
