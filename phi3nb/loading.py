"""Steps 4-5: load an exported model and its tokenizer, as the cookbook does, with checks first."""

import difflib
import hashlib
import os
import time
from pathlib import Path

from .devices import resolve_device
from .errors import Phi3nbError
from .model_dir import check_model_dir
from .cookbook import OV_CONFIG, COOKBOOK_DEVICE

# Properties the OpenVINO Core takes for every device, beside each device's SUPPORTED_PROPERTIES.
CORE_PROPERTIES = {"CACHE_DIR", "CACHE_MODE", "ENABLE_MMAP", "LOG_LEVEL", "ALLOW_AUTO_BATCHING",
                   "AUTO_BATCH_TIMEOUT", "FORCE_TBB_TERMINATE", "PERFORMANCE_HINT", "NUM_STREAMS"}


def check_ov_config(ov_config, device) -> dict:
    """Reject keys the device would not understand (OpenVINO fails late, with a long trace)."""
    import openvino as ov

    if not isinstance(ov_config, dict):
        raise Phi3nbError(f"ov_config must be a dict like {OV_CONFIG}, not {type(ov_config).__name__}.")
    core = ov.Core()
    family = device.split(".")[0].split(":")[0]
    try:
        known = set(core.get_property(device, "SUPPORTED_PROPERTIES")) | CORE_PROPERTIES
    except RuntimeError:  # AUTO and friends forward properties; let OpenVINO judge
        return ov_config
    for key in ov_config:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise Phi3nbError(f"Unknown ov_config key {key!r} for {family}.{hint} "
                              f"Keys this device takes: {', '.join(sorted(known))}.")
    return ov_config


def writable_cache(ov_config, model_dir) -> dict:
    """`ov_config` with a CACHE_DIR OpenVINO can create: one it cannot (inside a shared read-only model
    folder, or relative to a read-only working folder) moves to a per-user folder, ~/.cache/phi3nb/compiled.

    Per user and not under PHI3NB_HOME, which a workshop host may share read-only too.
    """
    target = ov_config.get("CACHE_DIR")
    if not target or _can_create(Path(target)):
        return ov_config
    digest = hashlib.sha1(str(Path(model_dir).resolve()).encode()).hexdigest()[:10]
    per_user = Path.home() / ".cache" / "phi3nb" / "compiled" / f"{Path(model_dir).name}-{digest}"
    print(f"[phi3nb] cannot write CACHE_DIR {target}; caching the compiled model in {per_user} instead.", flush=True)
    return {**ov_config, "CACHE_DIR": str(per_user)}


def _can_create(folder) -> bool:
    """True if `folder` is writable, or could be made in its nearest existing parent."""
    folder = folder.expanduser().absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def load_model(model_dir, device=COOKBOOK_DEVICE, ov_config=None, trust_remote_code=False):
    """The cookbook's `OVModelForCausalLM.from_pretrained(...)` on a checked folder and an available device."""
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoConfig

    path = check_model_dir(model_dir)
    device = resolve_device(device)
    ov_config = writable_cache(check_ov_config(dict(OV_CONFIG if ov_config is None else ov_config), device), path)
    print(f"[phi3nb] loading {path.name} on {device} (the first compile takes a while)...", flush=True)
    start = time.perf_counter()
    try:
        model = OVModelForCausalLM.from_pretrained(  # str: optimum-intel 2.1 offline mode fails on a Path
            str(path), device=device, ov_config=ov_config,
            config=AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code),
            trust_remote_code=trust_remote_code)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[-1][:300]
        raise Phi3nbError(f"OpenVINO could not load {path}: {first}. The files may be corrupt: "
                          "delete the folder and export again.") from None
    print(f"[phi3nb] loaded in {time.perf_counter() - start:.1f} s", flush=True)
    return model


def load_tokenizer(model_dir, trust_remote_code=False):
    """The Hugging Face tokenizer saved beside the export."""
    from transformers import AutoTokenizer

    path = check_model_dir(model_dir)
    fix = "Export again: the export step saves the tokenizer beside the model."
    if not any((path / name).exists() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise Phi3nbError(f"No tokenizer files in {path}. {fix}")
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as e:
        raise Phi3nbError(f"No usable tokenizer in {path} ({(str(e).strip() or type(e).__name__).splitlines()[0]}). {fix}") from None
