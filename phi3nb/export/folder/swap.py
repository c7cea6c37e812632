"""A folder that is whole or absent, however its writer stops: written aside, committed, swapped in.

`write_once` writes `.NAME.partial`, commits it by adding the manifest (written aside, then renamed, so a
manifest is there whole or not at all), then renames NAME to `.NAME.old`, the partial folder to NAME, and
deletes `.NAME.old`. After a stop at any step (Ctrl-C, a crash, a full disk) `settle` sees from the folders
which step it was: a committed partial folder is finished and moved into place, an uncommitted one deleted,
and a whole `.NAME.old` with no NAME moved back. It runs in the interrupted call's own clean-up and again in
the next call, under a lock (folder_lock) that makes writers to one folder take turns.
"""

import errno
import json
import os
import shutil
from pathlib import Path

from ...errors import Phi3nbError
from .lock import check_wait, holding, sibling

MANIFEST = "phi3nb_export.json"


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
            settle(folder)
            why = why_write(folder, source, flags, check)
            if why is None:
                return _reuse(folder, source, flags)
            _check_ours(folder, why)
            partial = sibling(folder, "partial")
            partial.mkdir(parents=True)
            write(partial)
            _commit(partial, {"source": source, "flags": flags, **facts})
            _swap(partial, folder)
        except BaseException as e:
            settle(folder, cleaning_up=True)  # whichever step was cut off: a whole export ends up in place
            if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                raise Phi3nbError(
                    f"The disk filled up while exporting to {folder}; nothing was written there. "
                    f"Free space on {folder.anchor or '/'} (a Phi-3-mini int4 export writes 2.8 GB, after ~7.6 GB "
                    "of temporary files in the temp folder and ~7.6 GB of download cache) or choose a folder on "
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
        shutil.rmtree(partial, ignore_errors=True)
    if not folder.exists() and read_manifest(old) is not None:
        print(f"[phi3nb] restoring {folder} from {old.name}: a run stopped while replacing it.")
        old.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


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
    """Put the committed `partial` at `folder`; the previous export waits whole in `.NAME.old` meanwhile."""
    old = sibling(folder, "old")
    if folder.exists():
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _reuse(folder, source, flags):
    print(f"[phi3nb] {folder} already holds {source} exported with {flags}: reusing it.")
    return folder
