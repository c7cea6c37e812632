"""What an export is asked for: the options check, the flags a manifest records, and the optimum-cli line.

Checked here before nncf would fail late (or silently ignore an option); the same normalised flags decide
whether a folder already holds the export and print the optimum-cli line that would make it.
"""

import shlex
from pathlib import Path

from .compression import CALIBRATION_TEXT, DATASETS
from ..cookbook import COOKBOOK_EXPORT, COOKBOOK_TASK
from ..errors import Phi3nbError
from .folder.swap import read_manifest

WEIGHT_FORMATS = ("int4", "int8", "fp16")


def export_command(model_id, output_dir, *, weight_format=COOKBOOK_EXPORT["weight_format"],
                   group_size=COOKBOOK_EXPORT["group_size"], ratio=COOKBOOK_EXPORT["ratio"],
                   sym=COOKBOOK_EXPORT["sym"], trust_remote_code=False, task=COOKBOOK_TASK, awq=False, scale_estimation=False,
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
        return (f"# no optimum-cli equivalent: calibrated on phi3nb's packaged text (phi3nb/export/calibration.txt), which "
                f"optimum-cli cannot read; phi3nb.export_model(..., dataset={CALIBRATION_TEXT!r}) makes it. Nearest "
                f"line, calibrating on the model's own generations instead: {line}")
    return line


def command_that_made(model_dir) -> str:
    """The optimum-cli line for the export in `model_dir`, from its manifest; a pre-converted model
    (no manifest) was used as it is, and the line says so instead."""
    done = read_manifest(model_dir)
    if done is None:
        return f"# {model_dir} was used as it is: it already held an OpenVINO model, so nothing was exported."
    source = done["source"]
    if "source_folder" in done:  # read from a folder beside this one (the embedded model's): wherever they are now
        source = Path(model_dir).parent / done["source_folder"]
    return export_command(source, model_dir, **done["flags"], trust_remote_code=done["trust_remote_code"],
                          task=done.get("task", COOKBOOK_TASK))


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
