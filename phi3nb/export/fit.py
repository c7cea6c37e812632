"""Will it fit? Free memory and disk against measured needs, before an export or a load starts.

Without this, a machine that is too small finds out mid-step: the kernel is killed and Jupyter
loses everything the notebook held. The needs come from one measured model (Phi-3-mini, below),
scaled to the model at hand: by its parameter count for an export, by its weight file for a load.

Memory has two parts. The file-backed part (the weights OpenVINO or torch map from disk) the
kernel can drop and read again, so running short of it only slows things down: a warning. The
rest (the plugin's own copy of the weights, activations, libraries) cannot be dropped, only
swapped: below that the process dies, so phi3nb refuses with a Phi3nbError. A full disk stops an
export too, after minutes of work: also an error.
"""

import os
import shutil
import tempfile
import warnings
from pathlib import Path

from ..errors import Phi3nbError
from ..measurements import FOLDER, FULL_SIZE_RUNS, cpu_name, date, read
from .preconverted import PHI3_PRECONVERTED

GB, MB = 10 ** 9, 10 ** 6  # as phi3nb bench reports them
SKIP = "PHI3NB_NO_FIT_CHECK"  # =1: skip these checks (the figures are from one model on a few machines)
# `phi3nb bench --full-size` runs, shipped as package data: microsoft/Phi-3-mini-4k-instruct's shapes with random
# bf16 weights, the cookbook's export flags, load_genai's CPU config. Every need below is read from them, the
# largest over the runs (memory and sizes hardly depend on the CPU), so re-measuring is the only way to change one.


def _measured(names=FULL_SIZE_RUNS) -> dict:
    """The needs, each the largest over the runs that measured it, and `source`: which runs, on what, when."""
    runs = []
    for name in names:
        try:
            runs.append((name, read(name)))
        except (OSError, ValueError) as e:
            raise Phi3nbError(f"phi3nb's measurement {FOLDER / name} is missing or unreadable ({e}): the fit check "
                              f"needs it. Reinstall phi3nb (pip install -e .), or set {SKIP}=1 to skip the check.")

    def most(get):
        values = []
        for _, run in runs:
            try:
                value = get(run)
            except (KeyError, TypeError):
                continue
            if value is not None:
                values.append(value)
        return max(values)

    cookbook = lambda run: run["exports"]["cookbook"]  # noqa: E731
    return {
        "params": most(lambda r: r["meta"]["model"]["parameters"]),
        # peak RSS of the export, and of it not file-backed (the rest: the source weights, mapped)
        "export_peak_mb": most(lambda r: cookbook(r)["memory"]["rss_mb"]),
        "export_anon_mb": most(lambda r: cookbook(r)["memory"]["rss_anon_mb"]),
        # the exported folder: the cookbook's flags (int4, ratio 0.6), and ratio 1.0 (the fast preset)
        "output_mb": most(lambda r: cookbook(r)["final_mb"]),
        "fast_output_mb": most(lambda r: r["exports"]["fast"]["final_mb"]),
        # optimum-intel first writes the model in full precision to the temp folder (TMPDIR), then compresses it:
        # the export's disk use peaked at this much more than its output.
        "temp_mb": most(lambda r: cookbook(r)["disk"]["peak_added_mb"] - cookbook(r)["final_mb"]),
        # RSS of the chat (load_genai, cookbook export) at its peak, a fresh long prompt; of it, the weight file
        # (openvino_model.bin, mapped and read once) is file-backed.
        "chat_rss_mb": most(lambda r: r["engines"]["genai-chat"]["memory"]["prefill"]["rss_mb"]),
        "source": _source(run for _, run in runs),
    }


def _source(runs) -> str:
    """"phi3nb bench --full-size on Intel Xeon, AMD EPYC, 2026-12-02 to 2026-12-07 (...)": the runs, short."""
    runs = list(runs)
    cpus = [cpu_name(run["meta"]["cpu"]) for run in runs]
    days = sorted(date(run["meta"]) for run in runs)
    when = days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"
    return (f"the largest of {len(runs)} phi3nb bench --full-size runs on {', '.join(dict.fromkeys(cpus))}, {when} "
            "(phi3nb/measurements/)")


_MEASURED = _measured()
SOURCE = _MEASURED["source"]  # said in every message, so a reader knows where a figure comes from
PHI3_MINI_PARAMS = _MEASURED["params"]
PHI3_MINI_EXPORT_PEAK_GB = _MEASURED["export_peak_mb"] * MB / GB
PHI3_MINI_EXPORT_ANON_GB = _MEASURED["export_anon_mb"] * MB / GB
PHI3_MINI_EXPORT_OUTPUT_MB = _MEASURED["output_mb"]
PHI3_MINI_FAST_OUTPUT_MB = _MEASURED["fast_output_mb"]
PHI3_MINI_EXPORT_TEMP_MB = _MEASURED["temp_mb"]
PHI3_MINI_CHAT_RSS_GB = _MEASURED["chat_rss_mb"] * MB / GB


class MemoryWarning(UserWarning):
    """It fits only by re-reading the model from disk or by swapping: slow, but it will not die."""


def weights_bytes_per_param(flags) -> float:
    """Bytes of exported folder per source parameter, for export_flags' `flags`.

    int4: the two measured exports, linear in the int4 ratio (the rest is int8); int8: that line at
    ratio 0; fp16: 2 bytes a weight. Only the two int4 points are measured.
    """
    low = PHI3_MINI_EXPORT_OUTPUT_MB * MB / PHI3_MINI_PARAMS  # ratio 0.6
    high = PHI3_MINI_FAST_OUTPUT_MB * MB / PHI3_MINI_PARAMS  # ratio 1.0
    per_ratio = (low - high) / 0.4
    fmt = flags.get("weight_format")
    if fmt == "fp16":
        return 2.0
    ratio = flags.get("ratio", 1.0) if fmt == "int4" else 0.0
    return high + (1.0 - ratio) * per_ratio


def count_params(config):
    """A decoder's parameter count from its config (embeddings, attention, MLP, norms), or None."""
    get = lambda name, default=None: getattr(config, name, None) or default  # noqa: E731
    hidden, layers, vocab = get("hidden_size"), get("num_hidden_layers"), get("vocab_size")
    if not (hidden and layers and vocab):
        return None
    heads = get("num_attention_heads", 1)
    head_dim = get("head_dim", hidden // heads)
    kv = get("num_key_value_heads", heads)
    inner = get("intermediate_size", 4 * hidden)
    attention = 2 * hidden * heads * head_dim + 2 * hidden * kv * head_dim
    per_layer = attention + 3 * hidden * inner + 2 * hidden
    embeddings = vocab * hidden * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    return embeddings + layers * per_layer + hidden


def check_export_fits(source, output_dir, flags, config):
    """Raise (or warn) before exporting `source` with `flags` to `output_dir` if this machine cannot take it."""
    params = count_params(config)
    if params is None or os.environ.get(SKIP) == "1":
        return
    scale = params / PHI3_MINI_PARAMS
    what = f"export {source}"
    do = [f"export nothing: the pre-converted {PHI3_PRECONVERTED} is used as it is (pass it as the model id)",
          "close other notebooks' kernels (JupyterLab: Running Terminals and Kernels, Shut Down)"]
    _check_memory(what, PHI3_MINI_EXPORT_ANON_GB * GB * scale, PHI3_MINI_EXPORT_PEAK_GB * GB * scale,
                  "besides the source weights it maps from disk", do)
    writes = [(output_dir, params * weights_bytes_per_param(flags), f"the export in {output_dir}"),
              (tempfile.gettempdir(), PHI3_MINI_EXPORT_TEMP_MB * MB * scale,
               f"the export's full-precision model, written to {tempfile.gettempdir()} first")]
    download = _download_bytes(source, params, config)
    if download:
        from huggingface_hub import constants

        writes.append((constants.HF_HUB_CACHE, download, f"the download of {source} into {constants.HF_HUB_CACHE}"))
    int4 = params * weights_bytes_per_param({"weight_format": "int4", "ratio": 0.6})
    smaller = [] if flags.get("weight_format") == "int4" else [f"export int4 (~{_gb(int4)})"]
    _check_disk(what, writes, smaller + do[:1])


def _check_disk(what, writes, do):
    """Error if the (folder, bytes, what for) `writes` do not fit on their disks, those sharing one summed."""
    disks = {}
    for folder, size, why in writes:
        folder = _disk_of(folder)
        disk = disks.setdefault(os.stat(folder).st_dev, [folder, 0, []])
        disk[1] += size
        disk[2].append(f"{_gb(size)} for {why}")
    for folder, need, why in disks.values():
        free = _free_disk(folder)
        if free < need:
            raise Phi3nbError(f"Not enough disk to {what}: it needs {_gb(need)} on the disk of {folder} "
                              f"({' and '.join(why)}), which has {_gb(free)} free. Free space there, write to "
                              f"another disk, or " + "; or ".join(do) + f". ({SKIP}=1 skips this check; its figures: Phi-3-mini "
                              f"scaled to this model, {SOURCE}.)")


def load_needs(model_dir, kv_bytes=0) -> tuple:
    """(bytes that cannot be dropped, bytes in all) of memory to load `model_dir` and chat with it.

    Phi-3-mini's measured RSS, scaled by the weight file; of it, the weight file itself is file-backed.
    `kv_bytes`: the KV cache of the context the chat will hold, beyond the measured chat's (kv_cache_bytes).
    """
    size = (Path(model_dir) / "openvino_model.bin").stat().st_size
    total = PHI3_MINI_CHAT_RSS_GB * GB * size / (PHI3_MINI_EXPORT_OUTPUT_MB * MB) + kv_bytes
    return max(total - size, 0), total


def check_load_fits(model_dir, device="CPU", kv_bytes=0):
    """Raise (or warn) before loading `model_dir` on the CPU if this machine's free memory cannot hold it
    answering (the figures are the CPU's; a GPU holds the weights elsewhere, in part or in whole); `kv_bytes`:
    the KV cache's share for the context the chat will hold (load_genai's, from memory_context)."""
    if device != "CPU" or os.environ.get(SKIP) == "1" or not (Path(model_dir) / "openvino_model.bin").exists():
        return
    anon, total = load_needs(model_dir, kv_bytes)
    do = ["close other notebooks' kernels (JupyterLab: Running Terminals and Kernels, Shut Down) or other programs",
          "free a model this kernel still holds (e.g. ov_model = None)",
          f"use a smaller export (int4 with ratio 1.0 is ~{PHI3_MINI_FAST_OUTPUT_MB / PHI3_MINI_EXPORT_OUTPUT_MB:.0%} "
          "the size of the cookbook's)"]
    besides = "besides its weight file, mapped from disk" + (
        f"; of it ~{_gb(kv_bytes)} for the chat's KV cache" if kv_bytes else "")
    _check_memory(f"load {Path(model_dir).name}", anon, total, besides, do)


# Bytes of one cached key or value element; u8/u4 add a scale and a zero point (2 x f32) per head and token
# (OpenVINO's CPU plugin, KEY/VALUE_CACHE_GROUP_SIZE 0: one group a head).
KV_ELEMENT_BYTES = {"u8": 1, "i8": 1, "u4": 0.5, "f16": 2, "bf16": 2, "f32": 4}
KV_QUANT_PARAMS_BYTES = {"u8": 8, "i8": 8, "u4": 8}
KV_MEASURED_TOKENS = 4096  # the context within which the measured chat RSS (Phi-3-mini-4k's) was taken


def kv_cache_precision(model_dir, device="CPU", ov_config=None) -> str:
    """The KV cache's element type ("u8", "f16", ...) as OpenVINO chooses it: ov_config's KV_CACHE_PRECISION,
    else the model's rt_info runtime_options (optimum-intel writes f16 into an export it did not quantize),
    else the device's default (u8 on x86 CPUs, OpenVINO 2026.4). The compiled model's KV_CACHE_PRECISION
    agrees; it is read here without compiling the model twice."""
    import re

    chosen = (ov_config or {}).get("KV_CACHE_PRECISION")
    if chosen is not None:
        return _type_name(chosen)
    xml = Path(model_dir) / "openvino_model.xml"
    try:
        with open(xml, "rb") as f:
            f.seek(max(xml.stat().st_size - 65536, 0))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        tail = ""
    options = re.search(r"<runtime_options>(.*?)</runtime_options>", tail, re.S)
    found = options and re.search(r'<KV_CACHE_PRECISION value="([^"]+)"', options.group(1))
    if found:
        return _type_name(found.group(1))
    try:
        import openvino as ov

        return _type_name(ov.Core().get_property(device, "KV_CACHE_PRECISION"))
    except (RuntimeError, TypeError):
        return "f16"


def _type_name(value) -> str:
    name = value.get_type_name() if hasattr(value, "get_type_name") else str(value).lower()
    return {"uint8_t": "u8", "float16": "f16", "bfloat16": "bf16", "float32": "f32"}.get(name, name)


def kv_bytes_per_token(config, precision) -> float:
    """Bytes the KV cache grows by with each token: layers x KV heads x (K and V) x head dim x the precision's
    bytes (+ u8's scale and zero point per head). `config`: config.json as a dict."""
    heads = config.get("num_attention_heads") or 1
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    per_head = head_dim * KV_ELEMENT_BYTES.get(precision, 2) + KV_QUANT_PARAMS_BYTES.get(precision, 0)
    return config["num_hidden_layers"] * kv_heads * 2 * per_head


def memory_context(model_dir, per_token, device="CPU") -> int | None:
    """Tokens of conversation whose KV cache this machine's available memory holds once the model is loaded:
    the measured chat's KV_MEASURED_TOKENS plus what the memory left over holds, in multiples of 1,024 (below
    that the load check speaks), or None where phi3nb does not count it (another device, or the fit check
    skipped). Swap is left out: a KV cache read from swap at every token would crawl."""
    if device != "CPU" or os.environ.get(SKIP) == "1" or not (Path(model_dir) / "openvino_model.bin").exists():
        return None
    available, _ = _memory()
    spare = max(available - load_needs(model_dir)[1], 0)
    return KV_MEASURED_TOKENS + int(spare // per_token) // 1024 * 1024


def kv_cache_bytes(tokens, per_token) -> float:
    """The KV cache's share of a chat holding `tokens`, beyond the measured chat's (KV_MEASURED_TOKENS)."""
    return max(tokens - KV_MEASURED_TOKENS, 0) * per_token


def _check_memory(what, anon, total, besides, do):
    """Error if `anon` bytes cannot be had even with swap; MemoryWarning if `total` is more than is available."""
    available, swap = _memory()
    needs = f"it needs ~{_gb(anon)} of memory {besides} ({_gb(total)} in all)"
    has = f"this machine has {_gb(available)} available" + (f" and {_gb(swap)} of free swap" if swap else "")
    fix = "; or ".join(do) + f". ({SKIP}=1 skips this check; its figures: Phi-3-mini scaled to this model, {SOURCE}.)"
    if available + swap < anon:
        raise Phi3nbError(f"Not enough memory to {what}: {needs}, and {has}. It would be killed part-way. "
                          f"What to do: {fix}")
    if available < total:
        how = "swapping" if available < anon else "reading the model from disk again as memory runs short"
        warnings.warn(f"Memory is tight to {what}: {needs}, and {has}, so it will be slow ({how}). "
                      f"What to do: {fix}", MemoryWarning, stacklevel=3)


def _download_bytes(source, params, config) -> int:
    """Bytes still to download for a Hugging Face `source` (0 for a folder or a cached snapshot)."""
    if Path(str(source)).exists():
        return 0
    from huggingface_hub import try_to_load_from_cache

    try:
        index = try_to_load_from_cache(source, "model.safetensors.index.json")
        if isinstance(index, str):
            import json

            files = set(json.loads(Path(index).read_text()).get("weight_map", {}).values())
        else:
            files = {"model.safetensors"}
        if files and all(isinstance(try_to_load_from_cache(source, f), str) for f in files):
            return 0
    except (OSError, ValueError):  # not a hub id (the export says so itself), or an unreadable index
        return 0
    dtype = str(getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "bfloat16")
    return int(params * (4 if "32" in dtype else 2))


def _memory():
    """(available, free swap) in bytes: the seam tests fake."""
    import psutil

    return psutil.virtual_memory().available, psutil.swap_memory().free


def _free_disk(folder) -> int:
    """Free bytes on the disk of `folder`: the seam tests fake."""
    return shutil.disk_usage(folder).free


def _disk_of(path) -> Path:
    """The nearest existing folder of `path` (the one whose disk it will be written to)."""
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _gb(n) -> str:
    return f"{n / GB:.3g} GB"


def export_disk_note() -> str:
    """What a Phi-3-mini export writes, for the message when a disk fills up during one: from the measurements."""
    download = PHI3_MINI_PARAMS * 2  # the published weights are bf16: 2 bytes a parameter
    return (f"a Phi-3-mini int4 export writes {_gb(PHI3_MINI_EXPORT_OUTPUT_MB * MB)}, after "
            f"{_gb(PHI3_MINI_EXPORT_TEMP_MB * MB)} of temporary files in the temp folder and a {_gb(download)} "
            f"download into the Hugging Face cache; {SOURCE}")
