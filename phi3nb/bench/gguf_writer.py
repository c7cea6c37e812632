"""Write a Hugging Face Phi-3 folder as a GGUF that llama.cpp loads (arch "phi3"), then quantize it.

Phi-3's fused qkv_proj and gate_up_proj map one to one onto llama.cpp's attn_qkv and
ffn_up; the byte-level vocabulary goes in as a "gpt2" tokenizer.
"""

import json
from pathlib import Path

from phi3nb.errors import Phi3nbError

_LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}


def gguf_name(hf_name: str) -> str:
    if hf_name in _GLOBAL:
        return _GLOBAL[hf_name]
    parts = hf_name.split(".")  # model.layers.N.rest
    if parts[:2] == ["model", "layers"] and ".".join(parts[3:]) in _LAYER:
        return f"blk.{parts[2]}.{_LAYER['.'.join(parts[3:])]}"
    raise KeyError(f"no GGUF name for {hf_name}")


def write_phi3_gguf(hf_dir, out_path) -> Path:
    """An F16 GGUF of a Phi-3 folder (norms in F32), as llama.cpp's converter lays it out."""
    import numpy as np
    from gguf import GGUFWriter, LlamaFileType, TokenType
    from safetensors import safe_open

    hf_dir, out_path = Path(hf_dir), Path(out_path)
    cfg = json.loads((hf_dir / "config.json").read_text())
    tok = json.loads((hf_dir / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    specials = {t["id"] for t in tok.get("added_tokens", []) if t.get("special")}
    tokens = [None] * cfg["vocab_size"]
    for text, i in vocab.items():
        if i < len(tokens):
            tokens[i] = text
    tokens = [t if t is not None else f"<pad{i}>" for i, t in enumerate(tokens)]

    w = GGUFWriter(str(out_path), "phi3")
    w.add_name(hf_dir.name)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_head_count(cfg["num_attention_heads"])
    w.add_head_count_kv(cfg.get("num_key_value_heads") or cfg["num_attention_heads"])
    w.add_layer_norm_rms_eps(cfg.get("rms_norm_eps", 1e-5))
    w.add_rope_dimension_count(cfg["hidden_size"] // cfg["num_attention_heads"])
    rope = cfg.get("rope_theta") or (cfg.get("rope_parameters") or {}).get("rope_theta") or 10000.0
    w.add_rope_freq_base(float(rope))
    w.add_file_type(LlamaFileType.MOSTLY_F16)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([TokenType.CONTROL if i in specials else TokenType.NORMAL for i in range(len(tokens))])
    merges = [" ".join(m) if isinstance(m, list) else m for m in tok["model"].get("merges", [])]
    if not merges:
        raise Phi3nbError(f"{hf_dir} has no BPE merges in tokenizer.json, and llama.cpp's GGUF needs them: "
                          "bench a model with a byte-level BPE tokenizer, or pass its GGUF with --gguf.")
    w.add_token_merges(merges)
    w.add_bos_token_id(cfg.get("bos_token_id", 1))
    w.add_eos_token_id(cfg.get("eos_token_id", 2) if isinstance(cfg.get("eos_token_id"), int) else 2)
    w.add_add_bos_token(False)

    files = sorted(hf_dir.glob("*.safetensors"))
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():
                t = st.get_tensor(name).float().numpy()
                arr = t.astype(np.float32) if t.ndim == 1 else t.astype(np.float16)
                w.add_tensor(gguf_name(name), arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out_path


def quantize_gguf(src, dst, ftype="Q4_K_M", threads=0) -> Path:
    """llama.cpp's own quantizer (llama_model_quantize), e.g. F16 -> Q4_K_M."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise Phi3nbError(f"llama.cpp could not quantize {src} to {ftype} (llama_model_quantize returned {rc}): "
                          f"check that the file is a complete F16 GGUF and that {Path(dst).parent} has room.")
    return Path(dst)
