"""Steps 4-5: load an exported model and its tokenizer, as the cookbook does, with checks first."""

import difflib
import logging
import re
import time
from pathlib import Path

from .compile_cache import cache_files, cache_outcome, writable_cache
from .devices import resolve_device
from ..errors import Phi3nbError
from ..export.folder.model_dir import check_model_dir
from ..export.fit import check_load_fits
from ..export.quiet import drop_config_noise
from ..export.trust import refuses_remote_code, remote_code_error
from ..cookbook import OV_CONFIG, COOKBOOK_DEVICE

# Properties the OpenVINO Core takes for every device, beside each device's SUPPORTED_PROPERTIES.
CORE_PROPERTIES = {"CACHE_DIR", "CACHE_MODE", "ENABLE_MMAP", "LOG_LEVEL", "ALLOW_AUTO_BATCHING",
                   "AUTO_BATCH_TIMEOUT", "FORCE_TBB_TERMINATE", "PERFORMANCE_HINT", "NUM_STREAMS"}
# openvino_genai's own LLMPipeline options, which its samples pass beside the device's: no device knows them, so
# "unknown key" would mislead. phi3nb builds the pipeline its chat needs, and says why it takes none of them.
GENAI_OPTIONS = {
    "ATTENTION_BACKEND": "phi3nb's chat keeps the paged-attention backend: its prefix cache carries the conversation "
                         "from turn to turn, while with \"SDPA\" every turn would read the whole conversation again "
                         "(phi3nb sends each turn's full history; it does not use start_chat)",
    "scheduler_config": "phi3nb keeps openvino_genai's scheduler for one chat at a time and bounds a chat by what "
                        "this machine's memory holds itself (the load line says how many tokens)",
    "prompt_lookup": "phi3nb's replies use plain decoding", "draft_model": "phi3nb's replies use plain decoding",
    "adapters": "phi3nb loads the exported model as it is",
}


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
        if key in GENAI_OPTIONS and key not in known:
            raise Phi3nbError(f"{key!r} is an option of openvino_genai's LLMPipeline, not of the {family} device, and "
                              f"phi3nb does not pass it: {GENAI_OPTIONS[key]}. Leave it out of ov_config.")
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


# How OpenVINO (and the C++ under it) says it ran out of memory: std::bad_alloc (which pybind11 also raises as
# MemoryError), the OS's ENOMEM, oneDNN's and OpenCL's (a GPU's) allocation failures.
OUT_OF_MEMORY = re.compile(r"bad_alloc|out of (device |host )?memory|cannot allocate|failed to allocate|"
                           r"not enough memory|insufficient memory|ENOMEM|OUT_OF_RESOURCES|"
                           r"MEM_OBJECT_ALLOCATION_FAILURE|OUT_OF_HOST_MEMORY", re.IGNORECASE)


def load_failed(path, error, device="CPU", *, tokenizer_ir=False) -> Phi3nbError:
    """OpenVINO failed on a checked folder with checked settings: say what failed.

    Only files OpenVINO cannot read are blamed (delete the folder and export again): running out of memory or a
    device's failure, during the load or the warm-up, says so and keeps the export, which deleting would not
    mend and would cost a new export. tokenizer_ir: the loader also needs the OpenVINO tokenizer's IRs (genai).
    """
    path, said = Path(path), openvino_message(error)
    if isinstance(error, MemoryError) or OUT_OF_MEMORY.search(str(error)):
        return _out_of_memory(path, device, said)
    broken = unreadable_files(path, tokenizer_ir)
    if broken:
        return Phi3nbError(f"OpenVINO could not load {path}: {said}. Its files are damaged ({broken}): delete the "
                           "folder and export again.")
    if device.split(".")[0].split(":")[0] == "CPU":
        what = ("Restart the kernel and load it again; if it fails again, load it with the cookbook's settings "
                f"(ov_config={OV_CONFIG}) or on another device, and report this message with your OpenVINO version.")
    else:
        what = (f"Load it on the CPU (device=\"CPU\"), or update the {device}'s driver (OpenVINO's {device} support "
                "comes with it) and restart the kernel.")
    return Phi3nbError(f"OpenVINO could not load or run {path.name} on {device}: {said}. The export's files read "
                       f"whole, so this is a failure of the {device} or of OpenVINO, not of the files: keep them. "
                       f"{what}")


def unreadable_files(path, tokenizer_ir=False) -> str | None:
    """What of an export OpenVINO cannot read (a file and OpenVINO's words), or None if its IRs read whole: the
    proof that deleting and exporting again is the remedy."""
    import openvino as ov

    core = ov.Core()
    names = ["openvino_model.xml"] + (["openvino_tokenizer.xml", "openvino_detokenizer.xml"] if tokenizer_ir else [])
    for name in names:
        if not (Path(path) / name).exists():
            return f"{name} is missing"
        try:
            if name != "openvino_model.xml":
                import openvino_tokenizers  # noqa: F401 - registers the tokenizer's operations with OpenVINO
            core.read_model(Path(path) / name)
        except (RuntimeError, ImportError) as e:
            return f"{name}: {openvino_message(e)}"
    return None


def _out_of_memory(path, device, said) -> Phi3nbError:
    """Memory ran out while loading or warming up: the fit check's figures, and what frees memory; the export is fine."""
    from ..export.fit import _gb, _memory, load_needs

    keep = "The export is fine: keep it."
    if device.split(".")[0].split(":")[0] != "CPU":
        return Phi3nbError(f"The {device} ran out of memory loading or running {path.name}: {said}. {keep} Load it "
                           f"on the CPU (device=\"CPU\"), close what else uses the {device}, or use a smaller export.")
    anon, total = load_needs(path)
    available, swap = _memory()
    free_swap = f" and {_gb(swap)} of free swap" if swap else ""
    return Phi3nbError(
        f"Not enough memory to load and warm up {path.name} on the CPU: {said}. phi3nb's fit check puts what it "
        f"needs at ~{_gb(anon)} besides its weight file ({_gb(total)} in all), and this machine has {_gb(available)} "
        f"available now{free_swap}. {keep} What to do: close other notebooks' kernels (JupyterLab: Running "
        "Terminals and Kernels, Shut Down) or other programs, free a model this kernel still holds "
        "(`ov_model = None`), or use a smaller export (phi3nb export MODEL OUT --preset fast); then load it again.")


def load_model(model_dir, device=COOKBOOK_DEVICE, ov_config=None, trust_remote_code=False):
    """The cookbook's `OVModelForCausalLM.from_pretrained(...)` on a checked folder and an available device;
    a model that needs its repository's code loads only with trust_remote_code=True."""
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoConfig

    path = check_model_dir(model_dir)
    drop_config_noise()
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
    except (RuntimeError, MemoryError) as e:
        raise load_failed(path, e, device) from None
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
    drop_config_noise()
    fix = "Export again: the export step saves the tokenizer beside the model."
    if not any((path / name).exists() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise Phi3nbError(f"No tokenizer files in {path}. {fix}")
    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, ImportError) as e:
        if refuses_remote_code(e):
            raise remote_code_error(path) from None
        raise Phi3nbError(f"No usable tokenizer in {path} ({(str(e).strip() or type(e).__name__).splitlines()[0]}). {fix}") from None
