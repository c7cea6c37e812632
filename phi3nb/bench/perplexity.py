"""What each export costs in quality: perplexity on a fixed English paragraph, next to PyTorch's.

One forward pass over the whole paragraph; perplexity = exp(mean next-token cross-entropy).
"""

import math
from importlib import resources

TEXT_FILE = "paragraph.txt"


def paragraph() -> str:
    return resources.files(__package__).joinpath(TEXT_FILE).read_text(encoding="utf-8").strip()


def perplexity_of_logits(logits, ids) -> float:
    import torch

    logits = torch.as_tensor(logits, dtype=torch.float32)[0, :-1]
    target = torch.as_tensor(ids)[0, 1:]
    return math.exp(torch.nn.functional.cross_entropy(logits, target).item())


def _ids(tokenizer, text):
    return tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]


def torch_perplexity(hf_dir, text=None) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    text = text or paragraph()
    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).eval()
    ids = _ids(tok, text)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    return perplexity_of_logits(logits, ids)


def ov_perplexity(model_dir, text=None) -> float:
    import torch
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoTokenizer

    text = text or paragraph()
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = OVModelForCausalLM.from_pretrained(model_dir, device="CPU", ov_config={"CACHE_DIR": ""})
    ids = _ids(tok, text)
    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    return perplexity_of_logits(logits, ids)


def export_variants(hf_dir, work_dir, presets) -> dict:
    """{name: OpenVINO folder} of `hf_dir`: "fp16", plus one per preset (int4 groups fitted to the model)."""
    from pathlib import Path

    from .ov_export import compress, export_fp16

    work_dir = Path(work_dir)
    out = {"fp16": export_fp16(hf_dir, work_dir / "fp16")}
    for name, preset in presets.items():
        out[name] = compress(out["fp16"], work_dir / name, preset)
    return out


def perplexity_table(hf_dir, work_dir, presets) -> dict:
    """{"pytorch": ppl, "<export>": ppl, ...} plus each export's weight size and ratio to PyTorch."""
    from .roofline import weight_bytes

    text = paragraph()
    ref = torch_perplexity(hf_dir, text)
    table = {"pytorch": {"ppl": ref, "vs_pytorch": 1.0}}
    for name, folder in export_variants(hf_dir, work_dir, presets).items():
        ppl = ov_perplexity(folder, text)
        table[name] = {"ppl": ppl, "vs_pytorch": ppl / ref, "weight_mb": weight_bytes(folder) / 1e6,
                       "model_dir": str(folder)}
    return table
