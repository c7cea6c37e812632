"""Step 1: export a Hugging Face model to OpenVINO, as the cookbook's optimum-cli line does.

`export_model` runs that line (export_options.export_command prints it) through
optimum-intel's Python API, with what the one-liner lacks: option checks before nncf
fails, a temporary folder renamed into place only when complete, and a manifest so a
second call with the same flags returns at once. A lock beside the folder makes two
notebooks (or a double Run All) exporting to one folder take turns instead of trampling
each other's temporary folder.
"""

import json
from importlib import metadata
from pathlib import Path

from .compression import quantization_config, seeded
from ..cookbook import COOKBOOK_EXPORT, COOKBOOK_TASK
from ..errors import Phi3nbError
from .options import check_options, export_flags
from .folder.swap import why_write, write_once
from .folder.model_dir import check_model_dir
from .preconverted import openvino_source
from .fit import check_export_fits
from .quiet import quiet_export
from .source_config import effective_group_size, load_source_config, longrope_switch, source_name

_VERSIONED = ("optimum-intel", "openvino", "openvino-tokenizers", "nncf", "transformers", "torch")


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
        print(f"[phi3nb] {model_id} is already an OpenVINO model, so there is nothing to export: using {ready} as "
              "it is.")
        return ready
    output_dir = Path(output_dir).expanduser().absolute()
    source = source_name(model_id)
    config = load_source_config(source, trust_remote_code)
    if weight_format == "int4":
        group_size = effective_group_size(config, group_size)
    flags = export_flags(weight_format, group_size, ratio, sym, **data_aware)
    if not export_done(output_dir, source, flags):  # reusing a finished export needs no room
        check_export_fits(source, output_dir, flags, config)
    return export_once(output_dir, source, flags,
                       lambda partial: run_export(source, partial, flags, trust_remote_code, task),
                       {"trust_remote_code": bool(trust_remote_code), "task": task}, wait)


def export_done(output_dir, source, flags) -> bool:
    """True if `output_dir` holds `source` exported with `flags` (export_flags' form), complete."""
    return why_write(Path(output_dir).expanduser().absolute(), source_name(source), flags, check_model_dir) is None


def export_once(output_dir, source, flags, write, facts, wait=None):
    """The folder transaction (folder_swap) with an OpenVINO model's check and the library versions."""
    return write_once(output_dir, source, flags, write, {**facts, "versions": library_versions()},
                      check=check_model_dir, wait=wait)


@quiet_export()
def run_export(source, target, flags, trust_remote_code, task):
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
    keep_model_length(target, load_source_config(source, trust_remote_code))  # not LongRoPE's switch
    if flags["weight_format"] == "fp16":  # optimum keeps the source dtype (often fp32); store fp16 as the CLI does
        import openvino as ov

        ov.save_model(model.model, str(target / "openvino_model.xml"), compress_to_fp16=True)
    print("[phi3nb] 3/3 saving the tokenizer (Hugging Face and OpenVINO formats)...", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    tokenizer.save_pretrained(target)
    export_tokenizer(tokenizer, target)


def library_versions(names=_VERSIONED) -> dict:
    """{package: installed version or None}, by default the packages an export depends on."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def keep_model_length(target, source_config):
    """Write the source model's max_position_embeddings back into an export's config.json, where
    optimum-intel wrote its LongRoPE switch instead (its Phi-3 export does): else a chat would stop there."""
    path = Path(target) / "config.json"
    own = getattr(source_config, "max_position_embeddings", None)
    config = json.loads(path.read_text(encoding="utf-8"))
    if own and longrope_switch(config) and config.get("max_position_embeddings") != own:
        config["max_position_embeddings"] = own
        path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
