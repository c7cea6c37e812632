"""Step 1: export a Hugging Face model to OpenVINO, as the cookbook's optimum-cli line does.

`export_command` prints that line; `export_model` runs the same export through
optimum-intel's Python API, with what the one-liner lacks: option checks before nncf
fails, a temporary folder renamed into place only when complete, and a manifest so a
second call with the same flags returns at once. A lock beside the folder makes two
notebooks (or a double Run All) exporting to one folder take turns instead of trampling
each other's temporary folder.
"""

import math
import shlex
import shutil
import warnings
from importlib import metadata
from pathlib import Path

from .errors import Phi3nbError
from .cookbook import COOKBOOK_EXPORT, COOKBOOK_TASK
from .folder_swap import MANIFEST, read_manifest, why_write, write_once
from .model_dir import check_model_dir
from .compression import CALIBRATION_TEXT, DATASETS, quantization_config, seeded
from .preconverted import openvino_source
from .preflight import check_export_fits
from .quiet import quiet_export
from .remote_code import refuses_remote_code, remote_code_error

WEIGHT_FORMATS = ("int4", "int8", "fp16")
_VERSIONED = ("optimum-intel", "openvino", "openvino-tokenizers", "nncf", "transformers", "torch")


class GroupSizeWarning(UserWarning):
    """The requested int4 group size does not divide the model's layer widths."""


def export_command(model_id, output_dir, *, weight_format="int4", group_size=128, ratio=0.6,
                   sym=True, trust_remote_code=False, task=COOKBOOK_TASK, awq=False, scale_estimation=False,
                   dataset=None, num_samples=None) -> str:
    """The optimum-cli line for these options, the same defaults as export_model; with trust_remote_code=True
    (the cookbook's --trust-remote-code), the cookbook's step 1 exactly.

    optimum-cli cannot read a calibration text from a file, so for dataset=CALIBRATION_TEXT the line is a
    comment that says so and shows the nearest command (which calibrates on the model's own generations).
    """
    check_options(weight_format, group_size, ratio, awq=awq, scale_estimation=scale_estimation, dataset=dataset,
                  num_samples=num_samples)
    args = ["optimum-cli", "export", "openvino", "--model", str(model_id), "--task", task,
            "--weight-format", weight_format]
    if weight_format == "int4":
        args += ["--group-size", str(group_size), "--ratio", str(ratio)]
    if sym and weight_format != "fp16":
        args.append("--sym")
    if awq:
        args.append("--awq")
    if scale_estimation:
        args.append("--scale-estimation")
    if dataset:
        args += ["--dataset", "auto" if dataset == CALIBRATION_TEXT else dataset]
    if num_samples:
        args += ["--num-samples", str(num_samples)]
    if trust_remote_code:
        args.append("--trust-remote-code")
    args.append(str(output_dir))
    line = shlex.join(args)
    if dataset == CALIBRATION_TEXT:
        return (f"# no optimum-cli equivalent: calibrated on phi3nb's packaged text (phi3nb/calibration.txt), which "
                f"optimum-cli cannot read; phi3nb.export_model(..., dataset={CALIBRATION_TEXT!r}) makes it. Nearest "
                f"line, calibrating on the model's own generations instead: {line}")
    return line


def check_options(weight_format, group_size, ratio, *, awq=False, scale_estimation=False, dataset=None,
                  num_samples=None):
    """Reject options optimum-cli/nncf would fail on late (or silently ignore), with the fix in the message."""
    if weight_format not in WEIGHT_FORMATS:
        raise Phi3nbError(f"Unknown weight format {weight_format!r}: use one of {', '.join(WEIGHT_FORMATS)}.")
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise Phi3nbError(f"ratio={ratio!r} is out of range: use a number in (0, 1], e.g. the cookbook's 0.6 "
                          "(the share of layers in int4; the rest stay int8).")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or (group_size < 1 and group_size != -1):
        raise Phi3nbError(f"group_size={group_size!r} is invalid: use a positive integer such as the cookbook's 128, "
                          "or -1 for per-channel quantization.")
    if (awq or scale_estimation) and weight_format != "int4":
        raise Phi3nbError(f"awq and scale_estimation improve int4 weights only, not {weight_format}: use "
                          "weight_format='int4', or leave them off.")
    if dataset is not None and dataset not in DATASETS:
        raise Phi3nbError(f"dataset={dataset!r} is not available offline: use 'auto' (the model's own generations) "
                          f"or {CALIBRATION_TEXT!r} (phi3nb's packaged calibration text).")
    if scale_estimation and dataset is None:
        raise Phi3nbError("scale_estimation needs calibration data: add dataset='auto' (the model's own generations) "
                          f"or dataset={CALIBRATION_TEXT!r} (phi3nb's packaged calibration text).")
    if dataset is not None and not (awq or scale_estimation or (weight_format == "int4" and ratio < 1)):
        raise Phi3nbError(f"dataset={dataset!r} would change nothing: it calibrates awq=True or "
                          "scale_estimation=True (or picks the int8 layers when ratio < 1); add one, or drop dataset.")
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int)
                                    or num_samples < 1 or dataset is None):
        raise Phi3nbError(f"num_samples={num_samples!r} is invalid: use a positive integer together with a dataset "
                          "(e.g. 64 with dataset='auto'), or leave it out.")


def layer_widths(config) -> set:
    """Input widths of the model's linear layers: an int4 group must divide each of them."""
    hidden = config.hidden_size
    heads = getattr(config, "num_attention_heads", None)
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if heads else hidden)
    widths = {hidden, getattr(config, "intermediate_size", hidden)}
    if heads:
        widths.add(heads * head_dim)
    return widths


def valid_group_sizes(config) -> list:
    """Group sizes that divide every layer width (largest first), plus -1 (per channel)."""
    g = math.gcd(*layer_widths(config))
    return [s for s in (256, 128, 64, 32, 16) if g % s == 0] + [-1]


def effective_group_size(config, group_size) -> int:
    """`group_size` if it fits the model, else the largest valid one below it, with a warning."""
    valid = valid_group_sizes(config)
    if group_size in valid:
        return group_size
    fallback = next((s for s in valid if 0 < s < group_size), -1)
    warnings.warn(
        f"group size {group_size} does not divide this model's layer widths "
        f"{sorted(layer_widths(config))}; using {fallback} instead (valid: {valid}).",
        GroupSizeWarning, stacklevel=3)
    return fallback


def load_source_config(model_id, trust_remote_code):
    """The source model's config; without trust_remote_code=True, a model that needs its repository's
    Python ends in a Phi3nbError before any of it is imported. Unreadable: a Phi3nbError on working offline."""
    from transformers import AutoConfig

    if not trust_remote_code and needs_remote_code(model_id):
        raise remote_code_error(model_id)
    try:
        return AutoConfig.from_pretrained(model_id, trust_remote_code=bool(trust_remote_code))
    except (OSError, ValueError) as e:
        if refuses_remote_code(e):
            raise remote_code_error(model_id) from None
        raise _unreadable(model_id, e) from None


def _unreadable(model_id, error) -> Phi3nbError:
    return Phi3nbError(
        f"Cannot read the model {model_id!r}: {str(error).splitlines()[0]}\n"
        "Check the name and your internet connection (or HF_ENDPOINT), or pass a local folder. "
        "Offline, use the embedded model: PHI3NB_MODEL_ID=embedded (or phi3nb.prepare_embedded_model())."
    )


def needs_remote_code(model_id) -> bool:
    """True when transformers cannot build the model's config itself and would run the repository's
    configuration code (auto_map), as transformers decides it; reads config.json only, imports nothing.

    Phi-3 is native in transformers >= 4.40, so the cookbook's --trust-remote-code is no longer
    needed for it.
    """
    from transformers import CONFIG_MAPPING, PretrainedConfig

    try:
        raw, _ = PretrainedConfig.get_config_dict(model_id)
    except (OSError, ValueError) as e:
        raise _unreadable(model_id, e) from None
    return raw.get("model_type") not in CONFIG_MAPPING and "AutoConfig" in (raw.get("auto_map") or {})


def export_flags(weight_format, group_size, ratio, sym, awq=False, scale_estimation=False, dataset=None,
                 num_samples=None) -> dict:
    """The flags that define an export, normalised as optimum-cli applies them.

    The data-aware ones (awq, scale_estimation, dataset, num_samples) appear only when set, so manifests
    written before they existed still match.
    """
    if weight_format == "int4":
        flags = {"weight_format": "int4", "group_size": group_size, "ratio": ratio, "sym": bool(sym)}
        extra = {"awq": bool(awq), "scale_estimation": bool(scale_estimation), "dataset": dataset,
                 "num_samples": num_samples}
        return {**flags, **{k: v for k, v in extra.items() if v}}
    if weight_format == "int8":
        return {"weight_format": "int8", "group_size": -1, "ratio": 1.0, "sym": bool(sym)}
    return {"weight_format": weight_format}


def command_that_made(model_dir) -> str:
    """The optimum-cli line for the export in `model_dir`, from its manifest; a pre-converted model
    (no manifest) was used as it is, and the line says so instead."""
    done = read_manifest(model_dir)
    if done is None:
        return f"# {model_dir} was used as it is: it already held an OpenVINO model, so nothing was exported."
    return export_command(done["source"], model_dir, **done["flags"], trust_remote_code=done["trust_remote_code"],
                          task=done.get("task", COOKBOOK_TASK))


def library_versions(names=_VERSIONED) -> dict:
    """{package: installed version or None}, by default the packages an export depends on."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def export_model(model_id, output_dir, *, weight_format=COOKBOOK_EXPORT["weight_format"],
                 group_size=COOKBOOK_EXPORT["group_size"], ratio=COOKBOOK_EXPORT["ratio"], sym=COOKBOOK_EXPORT["sym"],
                 trust_remote_code=False, task=COOKBOOK_TASK, awq=False, scale_estimation=False, dataset=None,
                 num_samples=None, wait=None) -> Path:
    """Export `model_id` to OpenVINO in `output_dir` (once), and return the folder to load.

    A source that already holds an OpenVINO model (a folder, or a repository such as
    OpenVINO/Phi-3-mini-4k-instruct-int4-ov) is returned as it is, downloaded if needed.
    Calls for one folder take turns through a lock beside it: the second waits (at most `wait`
    seconds; None: until the other ends), then reuses.
    No code from the model's repository runs unless trust_remote_code=True (the cookbook's --trust-remote-code):
    without it, a model that needs that code ends in a Phi3nbError that says so, before any of it runs.
    awq, scale_estimation and dataset (DATASETS) are optimum-cli's --awq, --scale-estimation, --dataset.
    """
    data_aware = {"awq": awq, "scale_estimation": scale_estimation, "dataset": dataset, "num_samples": num_samples}
    check_options(weight_format, group_size, ratio, **data_aware)
    if not isinstance(trust_remote_code, bool):  # a string such as "0" must not count as consent
        raise Phi3nbError(f"trust_remote_code={trust_remote_code!r} is not True or False: pass True to run the model "
                          "repository's own Python code, or leave it False.")
    ready = openvino_source(model_id)
    if ready is not None:
        print(f"[phi3nb] {model_id} is already an OpenVINO model: using {ready} as it is, without exporting.")
        return ready
    output_dir = Path(output_dir).expanduser().absolute()
    source = source_name(model_id)
    config = load_source_config(source, trust_remote_code)
    if weight_format == "int4":
        group_size = effective_group_size(config, group_size)
    flags = export_flags(weight_format, group_size, ratio, sym, **data_aware)
    if not export_done(output_dir, source, flags):  # reusing a finished export needs no room
        check_export_fits(source, output_dir, flags, config)
    return _export_once(output_dir, source, flags,
                        lambda partial: _run_export(source, partial, flags, trust_remote_code, task),
                        {"trust_remote_code": bool(trust_remote_code), "task": task}, wait)


def compress_model(fp16_dir, output_dir, *, weight_format, group_size=128, ratio=1.0, sym=True, awq=False,
                   scale_estimation=False, dataset=None, num_samples=None) -> Path:
    """Compress an fp16 export (export_model(..., weight_format="fp16")) into `output_dir`.

    The bench's second stage: converting (tracing) is the slow part, so it runs once and each
    preset only re-compresses the fp16 IR with nncf, as optimum-cli's --weight-format would.
    Same folder discipline as export_model: lock, partial folder, swap, manifest.
    """
    data_aware = {"awq": awq, "scale_estimation": scale_estimation, "dataset": dataset, "num_samples": num_samples}
    check_options(weight_format, group_size, ratio, **data_aware)
    fp16_dir = Path(source_name(fp16_dir))
    output_dir = Path(output_dir).expanduser().absolute()
    if weight_format == "int4" and (fp16_dir / "config.json").exists():
        from transformers import AutoConfig

        group_size = effective_group_size(AutoConfig.from_pretrained(fp16_dir), group_size)
    flags = export_flags(weight_format, group_size, ratio, sym, **data_aware)
    return _export_once(output_dir, str(fp16_dir), flags, lambda partial: _run_compress(fp16_dir, partial, flags),
                        {"trust_remote_code": False, "task": COOKBOOK_TASK})


def export_done(output_dir, source, flags) -> bool:
    """True if `output_dir` holds `source` exported with `flags` (export_flags' form), complete."""
    return why_write(Path(output_dir).expanduser().absolute(), source_name(source), flags, check_model_dir) is None


def _export_once(output_dir, source, flags, write, facts, wait=None):
    """The folder transaction (folder_swap) with an OpenVINO model's check and the library versions."""
    return write_once(output_dir, source, flags, write, {**facts, "versions": library_versions()},
                      check=check_model_dir, wait=wait)


def source_name(model_id) -> str:
    """A local folder as its absolute path (so two spellings are one source), else the model id."""
    local = Path(str(model_id)).expanduser()
    return str(local.resolve()) if local.exists() else str(model_id)


@quiet_export()
def _run_export(source, target, flags, trust_remote_code, task):
    """Convert, compress and save model + tokenizers into `target` (progress from nncf, without the libraries'
    known-harmless chatter)."""
    from optimum.exporters.openvino.convert import export_tokenizer
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoTokenizer

    print(f"[phi3nb] 1/3 converting {source} to OpenVINO ({flags})...", flush=True)
    if flags["weight_format"] == "fp16":
        quant = {"load_in_8bit": False}
    else:
        quant = {"quantization_config": quantization_config(flags)}
    with seeded(flags):
        model = OVModelForCausalLM.from_pretrained(
            source, export=True, compile=False, trust_remote_code=trust_remote_code, **quant)
    print("[phi3nb] 2/3 saving the model...", flush=True)
    model.save_pretrained(target)
    if flags["weight_format"] == "fp16":  # optimum keeps the source dtype (often fp32); store fp16 as the CLI does
        import openvino as ov

        ov.save_model(model.model, str(target / "openvino_model.xml"), compress_to_fp16=True)
    print("[phi3nb] 3/3 saving the tokenizer (Hugging Face and OpenVINO formats)...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    tokenizer.save_pretrained(target)
    export_tokenizer(tokenizer, target)


def _run_compress(fp16_dir, target, flags):
    """fp16 IR -> weight-compressed IR in `target`, with the fp16 export's tokenizers and configs beside it."""
    from optimum.intel import OVModelForCausalLM

    print(f"[phi3nb] compressing {fp16_dir} ({flags})...", flush=True)
    with seeded(flags):
        model = OVModelForCausalLM.from_pretrained(fp16_dir, compile=False,
                                                   quantization_config=quantization_config(flags))
    model.save_pretrained(target)
    del model
    for path in fp16_dir.iterdir():
        if path.is_file() and path.name != MANIFEST and not (target / path.name).exists():
            shutil.copy2(path, target / path.name)
