"""A JupyterHub's shared, read-only model folder: every entry point serves from it without writing
into it, and a CACHE_DIR that cannot be written moves to a per-user folder.

Read-only for real, in the first way this machine allows (PHI3NB_TEST_READONLY=mount|permissions|child picks one):
- mount: as root, a bind mount remounted read-only (root ignores permissions), unmounted afterwards;
- permissions: as any other user, the folder's permissions (folders r-x, files r--), as a host's share is to
  the users it serves; restored afterwards;
- child: as root where mounting is refused (a container without CAP_SYS_ADMIN), the test runs again in a child
  process that keeps root's uid but not CAP_DAC_OVERRIDE (util-linux's setpriv), so permissions bind it as
  they bind another user.
Where none is possible (Windows: a folder's read-only attribute does not stop files being made in it) the
tests skip, saying which is missing.
"""

import errno
import gc
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import phi3nb
from phi3nb import OV_CONFIG, export_model, load_model, load_tokenizer

CHOICE = "PHI3NB_TEST_READONLY"
SMALL = 1 << 20  # files below this are copied, so their permissions can change; larger ones are linked


def _mount_refused(scratch) -> str:
    """Why a read-only bind mount cannot be made here ("" if it can): tried on a scratch folder."""
    src, view = scratch / "src", scratch / "view"
    src.mkdir(parents=True)
    view.mkdir()
    try:
        for args in (["--bind", src, view], ["-o", "remount,bind,ro", view]):
            done = subprocess.run(["mount", *map(str, args)], capture_output=True, text=True)
            if done.returncode:
                return f"mount {' '.join(map(str, args))}: {done.stderr.strip()}"
    except OSError as e:
        return f"cannot run mount ({e})"
    finally:  # always: os.path.ismount() does not see a bind mount within one filesystem
        subprocess.run(["umount", str(view)], capture_output=True)
    return ""


def _as_root_without_dac_override(request, tmp_path) -> None:
    """Run this test again in a child pytest that keeps root's uid but not CAP_DAC_OVERRIDE, by permissions."""
    if not shutil.which("setpriv"):
        pytest.skip("as root, permissions cannot make a folder read-only, mounting is refused here, and "
                    "setpriv (util-linux) is not installed to run the test without CAP_DAC_OVERRIDE: run the tests "
                    "as another user, or where root may mount (CAP_SYS_ADMIN)")
    command = ["setpriv", "--bounding-set", "-dac_override", "--", sys.executable, "-m", "pytest", "-q", "-rs",
               "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "child"), request.node.nodeid]
    done = subprocess.run(command, cwd=request.config.rootpath, env={**os.environ, CHOICE: "permissions"},
                          capture_output=True, text=True, timeout=1200)
    if done.returncode and done.stderr.startswith("setpriv:"):  # e.g. no CAP_SETPCAP to drop a capability with
        pytest.skip(f"as root, permissions cannot make a folder read-only, mounting is refused here, and setpriv "
                    f"cannot drop CAP_DAC_OVERRIDE ({done.stderr.strip()}): run the tests as another user")
    if done.returncode == 0 and re.search(r"\b1 skipped", done.stdout):
        why = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
        pytest.skip(f"in a child without CAP_DAC_OVERRIDE: {why[0] if why else done.stdout[-500:]}")
    assert done.returncode == 0 and re.search(r"\b1 passed", done.stdout), (
        f"the test, run as root without CAP_DAC_OVERRIDE ({shlex.join(command)}), failed:\n"
        + (done.stdout + done.stderr)[-5000:])


class ReadOnly:
    """read_only(folder) -> a view of `folder` that this process can read but not write.

    `elsewhere` is True when the test already ran in a child process (the `child` way): its body then returns.
    """

    def __init__(self, how, tmp_path):
        self.how, self.tmp_path, self.elsewhere = how, tmp_path, how == "child"
        self.mounted, self.modes = [], {}

    def __call__(self, src) -> Path:
        src = Path(src)
        if self.how == "mount":
            view = self.tmp_path / f"ro-{src.name}"
            view.mkdir()
            for args in (["--bind", src, view], ["-o", "remount,bind,ro", view]):
                subprocess.run(["mount", *map(str, args)], capture_output=True, text=True, check=True)
                if view not in self.mounted:
                    self.mounted.append(view)
            expected = errno.EROFS
        else:
            view = src
            for path in sorted(src.rglob("*"), reverse=True) + [src]:  # files before their folders
                st = path.lstat()
                if path.is_symlink() or (path.is_file() and st.st_nlink > 1):
                    continue  # a linked file is another folder's too: left as it is; a write shows in its stamps
                self.modes[path] = st.st_mode
                path.chmod(st.st_mode & ~0o222)
            expected = errno.EACCES
        try:  # the premise: nothing can be made there
            (view / ".probe").touch()
        except OSError as e:
            assert e.errno == expected, e
            return view
        (view / ".probe").unlink()
        if self.how == "permissions":
            pytest.skip("this process writes where permissions say no (root with CAP_DAC_OVERRIDE): "
                        f"{CHOICE}=permissions needs another user, or root without it (the child way)")
        pytest.fail(f"{view} was made read-only ({self.how}), yet a file could be made in it")

    def close(self):
        gc.collect()  # OpenVINO maps the weights: drop the test's models first
        for view in reversed(self.mounted):
            if subprocess.run(["umount", str(view)], capture_output=True).returncode:
                subprocess.run(["umount", "--lazy", str(view)], check=True)  # detached now, freed when unused
        for path, mode in reversed(list(self.modes.items())):  # folders first, then what is in them
            path.chmod(mode)


@pytest.fixture
def read_only(request, tmp_path):
    """A ReadOnly for this test, made the first way this machine allows (see the module's docstring)."""
    if sys.platform == "win32":
        pytest.skip("Windows: a folder's read-only attribute does not stop files being made in it, and this "
                    "test has no read-only mount or permission (ACL) to use instead")
    how = os.environ.get(CHOICE)
    if how not in (None, "", "mount", "permissions", "child"):
        pytest.fail(f"{CHOICE}={how!r}: use mount, permissions or child")
    if not how:
        how = "permissions" if os.geteuid() != 0 else "mount"
    if how == "mount":
        refused = _mount_refused(tmp_path / "mount-probe")
        if refused and os.environ.get(CHOICE) == "mount":
            pytest.skip(f"mounting is refused here ({refused}): {CHOICE}=mount needs root with CAP_SYS_ADMIN")
        how = "child" if refused else how
    if how == "child":
        if os.geteuid() != 0:
            pytest.skip(f"{CHOICE}=child drops root's CAP_DAC_OVERRIDE: run it as root")
        _as_root_without_dac_override(request, tmp_path)
    ro = ReadOnly(how, tmp_path)
    yield ro
    ro.close()


def _linked_copy(src, dst) -> Path:
    """`src` as a new folder `dst`: small files copied, the large linked where the filesystem allows (else
    copied), so a test can make the copy read-only without touching `src`."""
    for path in [src, *sorted(src.rglob("*"))]:
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True)
            continue
        try:
            if path.stat().st_size < SMALL:
                raise OSError("small: copied")
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
    return dst


def _stamps(folder):
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_everything_serves_from_a_read_only_folder(read_only, tiny_phi3_ov, tiny_model, tmp_path, monkeypatch,
                                                   capsys):
    if read_only.elsewhere:
        return
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


def test_the_embedded_model_from_a_read_only_phi3nb_home(read_only, tmp_path, monkeypatch):
    """A host prepares the embedded model once (`phi3nb prepare`) and shares its PHI3NB_HOME read-only."""
    from phi3nb.export.embedded import prepare_embedded_model
    from phi3nb.export.paths import cache_dir

    if read_only.elsewhere:
        return
    prepare_embedded_model()  # the host's step, in the writable cache
    host = _linked_copy(cache_dir() / "embedded", tmp_path / "host" / "embedded").parent  # the host's PHI3NB_HOME
    before = _stamps(host / "embedded")
    view = read_only(host)
    monkeypatch.setenv("PHI3NB_HOME", str(view))
    assert prepare_embedded_model() == view / "embedded" / "ov-int8"
    phi3nb.check_model_dir(view / "embedded" / "ov-int8")
    assert _stamps(view / "embedded") == before
    command = shlex.split(phi3nb.command_that_made(view / "embedded" / "ov-int8"))
    assert command[command.index("--model") + 1] == str(view / "embedded" / "hf")  # the shared one, as mounted


def test_exporting_into_a_read_only_folder_says_where_to_export(read_only, tiny_phi3_hf, tmp_path):
    if read_only.elsewhere:
        return
    (tmp_path / "models").mkdir()
    view = read_only(tmp_path / "models")
    with pytest.raises(phi3nb.Phi3nbError, match="Cannot write next to .*export to a folder you can write to"):
        export_model(tiny_phi3_hf, view / "int4")
