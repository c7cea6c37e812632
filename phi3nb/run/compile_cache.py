"""The compiled-model cache: where a load may keep it (a folder it can write), and what a load did with it."""

import hashlib
import os
from pathlib import Path

# Devices whose compiled model load_genai keeps in compiled_cache_dir by default. Not the CPU: there genai
# compiles a paged-attention model, whose blob OpenVINO 2026.4 writes but cannot read back (PagedAttention-
# Extension is in no IR opset), so each load would hash the weights and rewrite a model-sized file for
# nothing; and a blob the CPU plugin does read back holds the transformed model, not the weights laid out
# for its kernels, which it does at the first inference either way (GenaiModel.warm_up moves that to the load).
CACHED_DEVICES = ("GPU", "NPU")
# OPTIMIZE_SIZE: the blob leaves the weights out and reads them from the model folder at import (OpenVINO's
# weightless cache), so the cache does not double the disk a model takes.
CACHE_MODE = {"CACHE_MODE": "OPTIMIZE_SIZE"}


def writable_cache(ov_config, model_dir) -> dict:
    """`ov_config` with a CACHE_DIR OpenVINO can create: one it cannot (inside a shared read-only model
    folder, or relative to a read-only working folder) moves to the per-user folder (compiled_cache_dir).
    """
    target = ov_config.get("CACHE_DIR")
    if not target or _can_create(Path(target)):
        return ov_config
    per_user = compiled_cache_dir(model_dir)
    print(f"[phi3nb] cannot write CACHE_DIR {target}; caching the compiled model in {per_user} instead.", flush=True)
    return {**ov_config, "CACHE_DIR": str(per_user)}


def compiled_cache_dir(model_dir) -> Path:
    """~/.cache/phi3nb/compiled/NAME-DIGEST: this user's compiled-model cache for the model folder.

    Per user and not under PHI3NB_HOME, which a workshop host may share read-only too; the digest
    of the folder's path keeps two models of one name apart.
    """
    digest = hashlib.sha1(str(Path(model_dir).resolve()).encode()).hexdigest()[:10]
    return Path.home() / ".cache" / "phi3nb" / "compiled" / f"{Path(model_dir).name}-{digest}"


def cache_files(cache_dir) -> dict:
    """{file name: (size, mtime)} in a compiled-model cache (OpenVINO names each blob by model + config)."""
    folder = Path(cache_dir) if cache_dir else None
    if folder is None or not folder.is_dir():
        return {}
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


def cache_outcome(cache_dir, before) -> str:
    """What a load did, for its last line: compiled, or read back from `cache_dir` (cache_files before it).

    Read from the files, as OpenVINO reports nothing here: a blob it reads stays untouched, one it
    cannot read back is written again.
    """
    if not cache_dir:
        return "compiled"
    after = cache_files(cache_dir)
    changed = {name for name, stamp in after.items() if before.get(name) != stamp}
    if after and not changed:
        return f"from the cache in {cache_dir}"
    if changed & set(before):
        return f"compiled again, as OpenVINO did not read back the cache in {cache_dir}"
    if changed:
        return f"compiled, cached in {cache_dir}"
    return f"compiled; OpenVINO cached nothing in {cache_dir}"


def _can_create(folder) -> bool:
    """True if `folder` is writable, or could be made in its nearest existing parent."""
    folder = folder.expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)
