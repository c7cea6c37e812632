"""A folder that is whole or absent, however its writer stops: written aside, committed, swapped in.

`write_once` writes `.NAME.partial`, commits it by adding the manifest (written aside, then renamed, so a
manifest is there whole or not at all), then renames NAME to `.NAME.old`, the partial folder to NAME, and
deletes `.NAME.old`. After a stop at any step (Ctrl-C, a crash, a full disk) `settle` sees from the folders
which step it was: a committed partial folder is finished and moved into place, an uncommitted one deleted,
and a whole `.NAME.old` with no NAME moved back. It runs in the interrupted call's own clean-up and again in
the next call, under a lock (folder_lock) that makes writers to one folder take turns.

Windows refuses to rename or delete a folder while a file in it is open or mapped (a model loaded from it):
NAME is renamed aside and back before any work, so such a folder stops the export at once with a FolderInUse
that names who holds it; a refusal later keeps the complete new export in `.NAME.partial` for the next run;
an `.NAME.old` that cannot be deleted yet is said, and deleted by the next run.
"""

import errno
import gc
import json
import os
import shutil
import sys
import time
from pathlib import Path

from ...errors import Phi3nbError
from .lock import _describe_process, check_wait, holding, sibling

MANIFEST = "phi3nb_export.json"
RETRY_S = (0.1, 0.4)  # waits before trying a refused rename or delete again (a virus scan lets go of new files)


class FolderInUse(Phi3nbError):
    """The OS refused to rename or delete an export's folder: a file in it is open (Windows: a loaded model)."""


def read_manifest(folder):
    """The manifest phi3nb wrote into a complete export, or None."""
    try:
        return json.loads((Path(folder) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def why_write(folder, source, flags, check):
    """None if `folder` holds `source` made with `flags`, complete (`check` raises Phi3nbError if not);
    else why it must be (re-)written."""
    done = read_manifest(folder)
    if done is None:
        return "no export there"
    if done.get("source") != source:
        return f"it holds an export of {done.get('source')}, not of {source}"
    if done.get("flags") != flags:
        return f"it holds an export with other flags ({done.get('flags')}, not {flags})"
    try:
        check(folder)
    except Phi3nbError as e:
        return f"its export is damaged ({str(e).split('. ')[0]})"
    return None


def write_once(folder, source, flags, write, facts, *, check, wait=None) -> Path:
    """Reuse `folder` if it holds this export, else `write(partial)` and swap the result into place.

    The manifest records source, flags and `facts`. Writers to one folder take turns; `wait` bounds how many
    seconds this one waits for another (None: as long as it takes). A folder that is already right is reused
    without the lock (so a read-only one works), tidying what an interrupted run left beside it if it can.
    """
    check_wait(wait)
    folder = Path(folder)
    why = why_write(folder, source, flags, check)
    leftovers = any(sibling(folder, kind).exists() for kind in ("partial", "old", "holder"))
    if why is None and not leftovers:
        return _reuse(folder, source, flags)
    with holding(folder, {"source": source, "flags": flags}, wait, only_if_free=why is None) as held:
        if not held:  # another run is writing beside a folder that is already right: use it
            return _reuse(folder, source, flags)
        try:
            try:
                settle(folder)
            except FolderInUse:  # a finished export of other flags waits beside a folder in use
                if why_write(folder, source, flags, check) is not None:
                    raise
                _remove(sibling(folder, "partial"), "the export of other flags waiting there, not the one asked for now")
            why = why_write(folder, source, flags, check)
            if why is None:
                return _reuse(folder, source, flags)
            _check_ours(folder, why)
            if folder.exists():
                _check_replaceable(folder)
            partial = sibling(folder, "partial")
            os.makedirs(partial)
            write(partial)
            _commit(partial, {"source": source, "flags": flags, **facts})
            _swap(partial, folder)
        except BaseException as e:
            if isinstance(e, FolderInUse):  # nothing half-done: the old export in place, a new one whole beside it
                raise
            settle(folder, cleaning_up=True)  # whichever step was cut off: a whole export ends up in place
            if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                from ..fit import export_disk_note

                raise Phi3nbError(
                    f"The disk filled up while exporting to {folder}; nothing was written there. "
                    f"Free space on {folder.anchor or '/'} ({export_disk_note()}) or choose a folder on "
                    "another disk.") from None
            raise
    print(f"[phi3nb] export complete: {folder}")
    return folder


def settle(folder, *, cleaning_up=False):
    """Finish or undo a write cut off at any step, so only NAME (whole, or absent) is left; under the lock."""
    folder = Path(folder)
    partial, old = sibling(folder, "partial"), sibling(folder, "old")
    if read_manifest(partial) is not None:  # committed: finish the swap
        if cleaning_up:
            print(f"[phi3nb] the export was complete when it was stopped: moving it into place at {folder}")
        else:
            print(f"[phi3nb] moving into place the export an earlier run completed: {folder}")
        _swap(partial, folder)
    elif partial.exists():
        if not cleaning_up:
            print(f"[phi3nb] removing an unfinished export left by an earlier run: {partial}")
        _remove(partial, "an unfinished export", must=None if cleaning_up else "Nothing was written.")
    if not folder.exists() and read_manifest(old) is not None:
        print(f"[phi3nb] restoring {folder} from {old.name}: a run stopped while replacing it.")
        os.rename(old, folder)
    _remove(old, f"the export {folder.name} held before")


def _check_ours(folder, why):
    """Refuse to replace a folder phi3nb did not write; say why phi3nb's own is replaced."""
    if read_manifest(folder) is not None:
        print(f"[phi3nb] re-exporting to {folder}: {why}.")
    elif (folder / "openvino_model.xml").exists():
        raise Phi3nbError(
            f"{folder} already holds an OpenVINO model that phi3nb did not export, so its flags are "
            "unknown. Use it as it is: pass the folder as the model id (or to load_model()), or delete it "
            "(or pick another folder) to export.")
    elif folder.exists() and any(folder.iterdir()):
        raise Phi3nbError(f"{folder} exists and is not empty: pick an empty or new folder for the export.")


def _commit(partial, manifest):
    """The manifest, whole or not at all: from here on `partial` counts as a complete export."""
    tmp = partial / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, partial / MANIFEST)


def _swap(partial, folder):
    """Put the committed `partial` at `folder`; the previous export waits whole in `.NAME.old` meanwhile.
    Refused (a file in `folder` is open, on Windows): FolderInUse, the old export in place, `partial` kept."""
    old = sibling(folder, "old")
    kept = (f"The new export is complete in {partial}: run this again once the model is released and it is moved "
            f"into place at once (or delete {partial.name} to drop it).")
    if folder.exists():
        _remove(old, f"what an earlier export of {folder.name} left", must=kept)  # NAME is whole: .old is not needed
        try:
            _retry(os.rename, folder, old)
        except OSError as e:
            if not _refused(e):
                raise
            raise _in_use(folder, e, kept) from None
    try:
        _retry(os.rename, partial, folder)
    except OSError as e:
        if not _refused(e):
            raise
        if old.exists() and not folder.exists():
            os.rename(old, folder)
        raise _in_use(partial, e, kept) from None
    _remove(old, f"the export {folder.name} held before")


def _check_replaceable(folder):
    """Rename `folder` aside and back, as the swap will, before any work: a folder the OS will not let go (on
    Windows, one a loaded model still has open) stops the export now, not after minutes. A stop between the
    two renames is settled as any other stop mid-swap."""
    old = sibling(folder, "old")
    _remove(old, f"what an earlier export of {folder.name} left", must="Nothing was written.")
    try:
        _retry(os.rename, folder, old)
    except OSError as e:
        if not _refused(e):
            raise
        raise _in_use(folder, e, "Nothing was written.") from None
    os.rename(old, folder)


def _refused(error) -> bool:
    """Whether an OSError is the OS refusing because a file is in use (Windows: WinError 5 access denied or 32
    sharing violation, both PermissionError), not a missing file or a full disk."""
    return isinstance(error, PermissionError) or getattr(error, "winerror", None) in (5, 32)


def _retry(call, *args):
    """`call(*args)`, tried again after a garbage collection (which closes files of models nobody holds any
    more) and after RETRY_S, while the OS refuses it as in use."""
    for wait in (*RETRY_S, None):
        try:
            return call(*args)
        except OSError as e:
            if not _refused(e) or wait is None:
                raise
            gc.collect()
            time.sleep(wait)


def _remove(path, what, *, must=None) -> bool:
    """Delete the folder `path` (`what` it holds); if the OS refuses, raise FolderInUse if `must` (what was kept,
    for its message), else say so and leave it for the next run (which deletes it). True if it is gone."""
    if not path.exists():
        return True
    try:
        _retry(shutil.rmtree, path)
        return True
    except FileNotFoundError:
        return True
    except OSError as e:
        if not _refused(e):
            raise
        if must:
            raise _in_use(path, e, must) from None
        # The files this process holds open in it, as psutil sees them: e.filename may be the folder itself
        # (Python 3.13's rmtree puts the path of the folder it was emptying there).
        busy = ", ".join(sorted(_users(path)[1])) or (
            Path(e.filename).name if e.filename and Path(e.filename) != path else "a file in it")
        print(f"[phi3nb] could not delete {path} ({what}): {busy} is in use ({e.strerror}), e.g. by a model loaded "
              "from it, which keeps its files open until it is released (`ov_model = None`, or a kernel restart). "
              "The next export to this folder deletes it; or delete it yourself then.", flush=True)
        return False


def _in_use(folder, error, kept) -> FolderInUse:
    """The error for a folder the OS will not rename or delete: who has files in it open, and what to do."""
    names, mine, others = _users(folder)
    who = []
    if names:
        who.append(f"this kernel holds a model loaded from it in {', '.join(names)}")
    elif mine:
        who.append(f"this kernel (pid {os.getpid()}) has {', '.join(mine)} open, e.g. a model loaded from it")
    if others:
        who.append(f"{', '.join(others)} ha{'s' if len(others) == 1 else 've'} files in it open (another "
                   "notebook's kernel: shut it down)")
    if not who:
        who.append("no process this user can see has a file in it open: another program may (an Explorer window, "
                   "a virus scan), or the folder is read-only")
    variable = names[0].split("`")[1] if names else "ov_model"
    return FolderInUse(
        f"Cannot replace {folder}: the OS refused ({error.strerror or error}). Windows does not let a folder be "
        f"renamed or deleted while a file in it is open, and a loaded model keeps its files open: "
        f"{'; '.join(who)}. Release it, then run this again: set what holds the model to None (`{variable} = None`; "
        "a ChatBox holds its model too) or restart the kernel (Kernel > Restart Kernel). Or export to another "
        f"folder. {kept}")


def _users(folder) -> tuple:
    """(variables of __main__ holding a model loaded from `folder`, files in it this process has open or mapped,
    other processes with files in it open), as far as psutil and the OS let this user see."""
    import psutil

    root = os.path.normcase(os.path.realpath(folder))

    def under(path):
        try:
            path = os.path.normcase(os.path.realpath(path))
        except (OSError, TypeError, ValueError):
            return False
        return path == root or path.startswith(root + os.sep)

    names, main = [], sys.modules.get("__main__")
    for name, value in list(vars(main).items()) if main is not None else []:
        try:
            if name.startswith("_") or isinstance(value, type(sys)):
                continue
            for held in (value, getattr(value, "model", None)):  # a ChatBox holds its model
                where = getattr(held, "model_dir", None) or getattr(held, "model_save_dir", None)
                if isinstance(where, (str, os.PathLike)) and under(where):
                    names.append(f"`{name}` ({type(value).__name__})")
                    break
        except Exception:  # noqa: BLE001 - any object may fail when its attributes are read
            continue
    me, mine = psutil.Process(), set()
    for listing in (me.open_files, getattr(me, "memory_maps", None)):  # memory_maps: not on macOS
        try:
            mine |= {Path(f.path).name for f in (listing() if listing else []) if under(f.path)}
        except (psutil.Error, OSError, NotImplementedError):
            pass
    others = []
    for proc in psutil.process_iter(["name"]):
        if proc.pid == me.pid:
            continue
        try:
            files = [f.path for f in proc.open_files()]
            if "python" in (proc.info.get("name") or "").lower() and hasattr(proc, "memory_maps"):
                files += [m.path for m in proc.memory_maps()]  # a kernel's mapped weights
        except (psutil.Error, OSError, NotImplementedError):
            continue
        if any(under(f) for f in files):
            others.append(_describe_process(proc))
    return names, sorted(mine), others


def _reuse(folder, source, flags):
    print(f"[phi3nb] {folder} already holds {source} exported with {flags}: reusing it.")
    return folder
