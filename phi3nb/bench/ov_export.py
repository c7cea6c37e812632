"""The bench's OpenVINO exports, through phi3nb.export.convert: one fp16 conversion, then a compression per preset.

Presets are export_model's flags (weight_format, group_size, ratio, sym). Converting (tracing) is the slow
part, so it runs once and each preset only re-compresses the fp16 IR with nncf, as optimum-cli's
--weight-format would, with export_model's folder discipline (lock, partial folder, swap, manifest).
Folders written by the bench before it shared export.py carry another marker; they are removed and
exported again.
"""

import shutil
from pathlib import Path

OLD_MARKER = "phi3nb_bench_export.json"


def _forget_old(out):
    if (Path(out) / OLD_MARKER).exists():
        shutil.rmtree(out)


def export_fp16(hf_dir, out) -> Path:
    """HF folder -> OpenVINO fp16 IR with OpenVINO tokenizers (what genai needs)."""
    from phi3nb.export.convert import export_model

    _forget_old(out)
    return export_model(hf_dir, out, weight_format="fp16", trust_remote_code=False)


def compress(fp16_dir, out, preset: dict) -> Path:
    """fp16 export -> weight-compressed export with `preset`'s flags (int4 groups fitted to the model)."""
    _forget_old(out)
    return compress_model(fp16_dir, out, **preset)


def compressed(fp16_dir, out, preset: dict) -> bool:
    """True if `out` already holds this compression of `fp16_dir` (which may be gone by now)."""
    from phi3nb.export.convert import export_done
    from phi3nb.export.options import export_flags

    return export_done(out, fp16_dir, export_flags(**preset))


def compress_model(fp16_dir, output_dir, *, weight_format, group_size=128, ratio=1.0, sym=True, awq=False,
                   scale_estimation=False, dataset=None, num_samples=None) -> Path:
    """Compress an fp16 export (export_model(..., weight_format="fp16")) into `output_dir`."""
    from phi3nb.cookbook import COOKBOOK_TASK
    from phi3nb.export.convert import export_once
    from phi3nb.export.options import check_options, export_flags
    from phi3nb.export.source_config import effective_group_size, source_name

    data_aware = {"awq": awq, "scale_estimation": scale_estimation, "dataset": dataset, "num_samples": num_samples}
    check_options(weight_format, group_size, ratio, **data_aware)
    fp16_dir = Path(source_name(fp16_dir))
    output_dir = Path(output_dir).expanduser().absolute()
    if weight_format == "int4" and (fp16_dir / "config.json").exists():
        from transformers import AutoConfig

        group_size = effective_group_size(AutoConfig.from_pretrained(fp16_dir), group_size)
    flags = export_flags(weight_format, group_size, ratio, sym, **data_aware)
    return export_once(output_dir, str(fp16_dir), flags, lambda partial: _run_compress(fp16_dir, partial, flags),
                       {"trust_remote_code": False, "task": COOKBOOK_TASK})


def _run_compress(fp16_dir, target, flags):
    """fp16 IR -> weight-compressed IR in `target`, with the fp16 export's tokenizers and configs beside it."""
    from optimum.intel import OVModelForCausalLM

    from phi3nb.export.compression import quantization_config, seeded
    from phi3nb.export.folder.swap import MANIFEST

    print(f"[phi3nb] compressing {fp16_dir} ({flags})...", flush=True)
    with seeded(flags):
        model = OVModelForCausalLM.from_pretrained(fp16_dir, compile=False,
                                                   quantization_config=quantization_config(flags))
    model.save_pretrained(target)
    del model
    for path in fp16_dir.iterdir():
        if path.is_file() and path.name != MANIFEST and not (target / path.name).exists():
            shutil.copy2(path, target / path.name)
