"""The bench's OpenVINO exports, through phi3nb.export: one fp16 conversion, then a compression per preset.

Presets are export_model's flags (weight_format, group_size, ratio, sym). Folders written by the
bench before it shared export.py carry another marker; they are removed and exported again.
"""

import shutil
from pathlib import Path

OLD_MARKER = "phi3nb_bench_export.json"


def _forget_old(out):
    if (Path(out) / OLD_MARKER).exists():
        shutil.rmtree(out)


def export_fp16(hf_dir, out) -> Path:
    """HF folder -> OpenVINO fp16 IR with OpenVINO tokenizers (what genai needs)."""
    from phi3nb.export import export_model

    _forget_old(out)
    return export_model(hf_dir, out, weight_format="fp16", trust_remote_code=False)


def compress(fp16_dir, out, preset: dict) -> Path:
    """fp16 export -> weight-compressed export with `preset`'s flags (int4 groups fitted to the model)."""
    from phi3nb.export import compress_model

    _forget_old(out)
    return compress_model(fp16_dir, out, **preset)


def compressed(fp16_dir, out, preset: dict) -> bool:
    """True if `out` already holds this compression of `fp16_dir` (which may be gone by now)."""
    from phi3nb.export import export_done, export_flags

    return export_done(out, fp16_dir, export_flags(**preset))
