"""OpenVINO exports for the bench: one fp16 conversion, then any number of weight-compression presets.

Converting (tracing) is the slow part, so it runs once; each preset re-compresses the fp16
IR with nncf through optimum-intel, with the same mapping `optimum-cli --weight-format ...`
uses. Folders finished once are reused (a marker file is written last).
"""

import json
import shutil
from pathlib import Path

DONE = "phi3nb_bench_export.json"
_SIDE_FILES = ("openvino_tokenizer.xml", "openvino_tokenizer.bin", "openvino_detokenizer.xml",
               "openvino_detokenizer.bin", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
               "chat_template.jinja", "generation_config.json", "config.json")


def _done(path: Path, spec) -> bool:
    try:
        return json.loads((path / DONE).read_text()) == spec
    except (OSError, ValueError):
        return False


def _finish(tmp: Path, out: Path, spec):
    (tmp / DONE).write_text(json.dumps(spec))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def export_fp16(hf_dir, out) -> Path:
    """HF folder -> OpenVINO fp16 IR with OpenVINO tokenizers (what genai needs)."""
    from optimum.exporters.openvino.convert import export_tokenizer
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoTokenizer

    import openvino as ov

    out, spec = Path(out), {"source": str(hf_dir), "weights": "fp16", "compress_to_fp16": True}
    if _done(out, spec):
        return out
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model = OVModelForCausalLM.from_pretrained(hf_dir, export=True, compile=False, load_in_8bit=False)
    model.save_pretrained(tmp)
    # optimum keeps the source dtype (fp32 for SmolLM2); store fp16 like optimum-cli --weight-format fp16
    ov.save_model(model.model, str(tmp / "openvino_model.xml"), compress_to_fp16=True)
    del model
    tok = AutoTokenizer.from_pretrained(hf_dir)
    tok.save_pretrained(tmp)
    export_tokenizer(tok, tmp)
    return _finish(tmp, out, spec)


def compress(fp16_dir, out, quant: dict) -> Path:
    """fp16 IR -> weight-compressed IR; `quant` holds OVWeightQuantizationConfig arguments."""
    from optimum.intel import OVModelForCausalLM, OVWeightQuantizationConfig

    fp16_dir, out = Path(fp16_dir), Path(out)
    spec = {"source": str(fp16_dir), "quant": quant}
    if _done(out, spec):
        return out
    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model = OVModelForCausalLM.from_pretrained(fp16_dir, compile=False,
                                               quantization_config=OVWeightQuantizationConfig(**quant))
    model.save_pretrained(tmp)
    del model
    for name in _SIDE_FILES:
        if (fp16_dir / name).exists() and not (tmp / name).exists():
            shutil.copy2(fp16_dir / name, tmp / name)
    return _finish(tmp, out, spec)


def weight_bytes(model_dir) -> int:
    """Bytes of weights the model reads per token: the size of its .bin (or .gguf)."""
    p = Path(model_dir)
    return (p / "openvino_model.bin").stat().st_size if p.is_dir() else p.stat().st_size
