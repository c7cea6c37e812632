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
    if (tok.get("pre_tokenizer") or {}).get("type") != "ByteLevel" and not any(
            p.get("type") == "ByteLevel" for p in (tok.get("pre_tokenizer") or {}).get("pretokenizers", [])):
        raise Phi3nbError(f"{hf_dir}'s tokenizer is not byte-level BPE, which is the only kind the bench's GGUF "
                          "writer lays out (a SentencePiece one such as the real Phi-3's would tokenize wrongly): "
                          "convert it with llama.cpp's convert_hf_to_gguf.py, quantize it to Q4_K_M with "
                          "llama-quantize, and pass it with --gguf PATH.")
    vocab = {**tok["model"]["vocab"], **{t["content"]: t["id"] for t in tok.get("added_tokens", [])}}
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

    # Tensor by tensor: the infos first, then each tensor read, converted and written, so the writer holds one
    # tensor at a time (the whole model would be 7.6 GB for Phi-3-mini).
    def each_tensor():
        for f in sorted(hf_dir.glob("*.safetensors")):
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():
                    yield st, name

    for st, name in each_tensor():
        shape = st.get_slice(name).get_shape()
        dtype = np.float32 if len(shape) == 1 else np.float16
        w.add_tensor_info(gguf_name(name), shape, np.dtype(dtype), int(np.prod(shape)) * np.dtype(dtype).itemsize)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for st, name in each_tensor():
        t = st.get_tensor(name).float().numpy()
        w.write_tensor_data(t.astype(np.float32) if t.ndim == 1 else t.astype(np.float16))
        del t
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


def make_quantized_gguf(hf_dir, out, ftype="Q4_K_M", log=print) -> Path:
    """`out` (a quantized GGUF of the Phi-3 folder), made once: the F16 GGUF beside it is removed after
    quantizing, and the quantized file appears under its name only when complete."""
    out = Path(out)
    if out.exists():
        return out
    f16 = out.with_name(out.stem + ".f16.partial")
    tmp = out.with_name(out.name + ".partial")
    try:
        log(f"[bench] writing the F16 GGUF of {hf_dir}...")
        write_phi3_gguf(hf_dir, f16)
        log(f"[bench] quantizing it to {ftype} (llama.cpp's quantizer)...")
        quantize_gguf(f16, tmp, ftype)
        tmp.rename(out)
    finally:
        f16.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out
