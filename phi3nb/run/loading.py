"""Steps 4-5: load an exported model and its tokenizer, as the cookbook does, with checks first."""

import difflib
import logging
import time

from .compile_cache import cache_files, cache_outcome, writable_cache
from .devices import resolve_device
from ..errors import Phi3nbError
from ..export.folder.model_dir import check_model_dir
from ..export.fit import check_load_fits
from ..export.trust import refuses_remote_code, remote_code_error
from ..cookbook import OV_CONFIG, COOKBOOK_DEVICE

# Properties the OpenVINO Core takes for every device, beside each device's SUPPORTED_PROPERTIES.
CORE_PROPERTIES = {"CACHE_DIR", "CACHE_MODE", "ENABLE_MMAP", "LOG_LEVEL", "ALLOW_AUTO_BATCHING",
                   "AUTO_BATCH_TIMEOUT", "FORCE_TBB_TERMINATE", "PERFORMANCE_HINT", "NUM_STREAMS"}


class HubCacheLookupFilter(logging.Filter):
    """Drop one false alarm of optimum-intel 2.1's `from_pretrained` in offline mode (HF_HUB_OFFLINE=1).

    Offline, it looks every model id up in the hub cache, a local folder too, to decide whether to
    export: for a folder that lookup fails ("[Errno 2] ... models--<folder>/refs/main"), it logs
    "Could not infer whether the model was already converted..." and keeps `export=False`, which is
    right for an exported folder. No argument skips that lookup, so only this record is dropped;
    every other warning stays.
    """

    def filter(self, record):
        text = record.getMessage()
        return not (text.startswith("Could not infer whether the model was already converted")
                    and "No such file or directory" in text and "refs" in text)


# Installed on `import phi3nb`, so it also covers the notebook's own `OVModelForCausalLM.from_pretrained`.
logging.getLogger("optimum.intel.openvino.modeling_base").addFilter(HubCacheLookupFilter())


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
    _check_values(core, ov_config, device)
    return ov_config


def _check_values(core, ov_config, device):
    """Compile a one-op model with these settings: a bad value fails here in milliseconds, not as a
    'corrupt model' after loading gigabytes. CACHE_* are left out so the probe writes nothing."""
    import openvino as ov
    import openvino.opset13 as ops

    settings = {k: v for k, v in ov_config.items() if not str(k).startswith("CACHE_")}
    if not settings:
        return
    x = ops.parameter([1, 8], ov.Type.f32)
    try:
        core.compile_model(ov.Model([ops.relu(x)], [x]), device, settings)
    except RuntimeError as e:
        raise Phi3nbError(f"{device} does not accept ov_config {settings}: {openvino_message(e)} "
                          f"Fix that value (the cookbook's ov_config is {OV_CONFIG}).") from None


def openvino_message(error) -> str:
    """The line of an OpenVINO error that says what went wrong, without its C++ source locations."""
    lines = [ln.strip() for ln in str(error).splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith("Exception from ")]
    return (useful or lines or [type(error).__name__])[-1][:300]


def load_failed(path, error) -> Phi3nbError:
    """OpenVINO failed on a checked folder with checked settings: the files are what is left."""
    return Phi3nbError(f"OpenVINO could not load {path}: {openvino_message(error)}. The files may be corrupt: "
                       "delete the folder and export again.")


def load_model(model_dir, device=COOKBOOK_DEVICE, ov_config=None, trust_remote_code=False):
    """The cookbook's `OVModelForCausalLM.from_pretrained(...)` on a checked folder and an available device;
    a model that needs its repository's code loads only with trust_remote_code=True."""
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoConfig

    path = check_model_dir(model_dir)
    device = resolve_device(device)
    check_load_fits(path, device)
    ov_config = writable_cache(check_ov_config(dict(OV_CONFIG if ov_config is None else ov_config), device), path)
    before = cache_files(ov_config.get("CACHE_DIR"))
    print(f"[phi3nb] loading {path.name} on {device} (the first compile takes a while)...", flush=True)
    start = time.perf_counter()
    try:
        model = OVModelForCausalLM.from_pretrained(  # str: optimum-intel 2.1 offline mode fails on a Path
            str(path), device=device, ov_config=ov_config,
            config=AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code),
            trust_remote_code=trust_remote_code)
    except RuntimeError as e:
        raise load_failed(path, e) from None
    except ValueError as e:
        if refuses_remote_code(e):
            raise remote_code_error(path) from None
        raise
    print(f"[phi3nb] loaded in {time.perf_counter() - start:.1f} s ({cache_outcome(ov_config.get('CACHE_DIR'), before)})",
          flush=True)
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
        if refuses_remote_code(e):
            raise remote_code_error(path) from None
        raise Phi3nbError(f"No usable tokenizer in {path} ({(str(e).strip() or type(e).__name__).splitlines()[0]}). {fix}") from None
