"""Random Phi-3-mini-shaped models: the real config and tokens, any depth, written layer by layer.

The slices (2 and 4 layers) give decode time per layer from the difference between the two
depths, so per-token overheads (embedding, lm_head, sampling, Python) cancel; the full-size
stand-in (32 layers, 3.8 B parameters) runs every step on the real shapes and bytes. Weights are
drawn tensor by tensor in bf16 and saved one layer per file, so writing needs about one layer of
memory, not the model's.
"""

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

from .phi3_tokens import PHI3_BOS, PHI3_EOS, PHI3_PAD, phi3_tokenizer

# microsoft/Phi-3-mini-4k-instruct's config.json, less auto_map, _name_or_path and transformers_version (Phi-3
# is native in transformers, so no repository code is named).
PHI3_MINI_4K_CONFIG = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": PHI3_BOS, "embd_pdrop": 0.0, "eos_token_id": PHI3_EOS, "hidden_act": "silu",
    "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 4096,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
    "original_max_position_embeddings": 4096, "pad_token_id": PHI3_PAD, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05,
    "rope_scaling": None, "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "use_cache": True, "vocab_size": 32064,
}
# Its generation_config.json: generate() stops at <|endoftext|>, <|assistant|> and <|end|>.
PHI3_GENERATION_CONFIG = {"bos_token_id": PHI3_BOS, "eos_token_id": [32000, 32001, 32007], "pad_token_id": PHI3_PAD}
PHI3_MINI_LAYERS = PHI3_MINI_4K_CONFIG["num_hidden_layers"]
WIDTHS = ("hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "vocab_size")


def phi3_config(layers, sizes=None) -> dict:
    """Phi-3-mini-4k-instruct's config.json values at `layers` depth; `sizes` overrides widths (tests)."""
    return {**PHI3_MINI_4K_CONFIG, **(sizes or {}), "num_hidden_layers": layers}


def tensor_shapes(config) -> list:
    """[(name, shape)] of a Phi3ForCausalLM's weights in save order, by layer (the fused qkv and gate_up)."""
    h, inter, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    head = h // config["num_attention_heads"]
    qkv = head * (config["num_attention_heads"] + 2 * config["num_key_value_heads"])
    shapes = [("model.embed_tokens.weight", (v, h))]
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes += [(p + "input_layernorm.weight", (h,)), (p + "self_attn.qkv_proj.weight", (qkv, h)),
                   (p + "self_attn.o_proj.weight", (h, h)), (p + "post_attention_layernorm.weight", (h,)),
                   (p + "mlp.gate_up_proj.weight", (2 * inter, h)), (p + "mlp.down_proj.weight", (h, inter))]
    return shapes + [("model.norm.weight", (h,)), ("lm_head.weight", (v, h))]


def _random(name, shape, seed, std):
    """One weight, the same for a name and seed at any depth: a norm is ones, the rest N(0, std) in bf16."""
    import torch

    if len(shape) == 1:
        return torch.ones(shape, dtype=torch.bfloat16)
    gen = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}".encode()))
    return torch.randn(shape, generator=gen, dtype=torch.bfloat16).mul_(std)


def _shards(config) -> list:
    """The weights grouped one file per layer, plus one for the embeddings and one for the output layer."""
    groups = {}
    for name, shape in tensor_shapes(config):
        key = name.split(".")[2] if name.startswith("model.layers.") else "embed" if "embed" in name else "head"
        groups.setdefault(key, []).append((name, shape))
    return list(groups.values())


def write_random_phi3(path, layers, sizes=None, seed=0, log=None) -> Path:
    """A random Phi-3 (Hugging Face folder, bf16 safetensors, Phi-3's tokenizer) at `path`, made once.

    Written into a `.NAME.partial` folder and renamed when complete; an existing folder is reused.
    """
    from safetensors.torch import save_file

    def fill(partial):
        partial.mkdir(parents=True)
        config = phi3_config(layers, sizes)
        (partial / "config.json").write_text(json.dumps(config, indent=2))
        (partial / "generation_config.json").write_text(json.dumps(PHI3_GENERATION_CONFIG, indent=2))
        phi3_tokenizer().save_pretrained(partial)
        shards, weight_map, total = _shards(config), {}, 0
        for k, group in enumerate(shards, 1):
            file = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
            tensors = {name: _random(name, shape, seed, config["initializer_range"]) for name, shape in group}
            save_file(tensors, str(partial / file), metadata={"format": "pt"})
            total += sum(t.numel() * t.element_size() for t in tensors.values())
            weight_map.update({name: file for name in tensors})
            del tensors
            if log and k % 4 == 0:
                log(f"[bench] random Phi-3, {layers} layers: {k}/{len(shards)} files, {total / 1e9:.1f} GB")
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (partial / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))

    return _made_once(path, fill)


def _made_once(path, fill) -> Path:
    """`path` if it holds a config.json, else `fill(partial)` run on `.NAME.partial`, renamed to `path` only
    once it is complete (a half-written stand-in is never taken for one)."""
    from phi3nb.export.folder.model_dir import sibling

    path = Path(path)
    if (path / "config.json").exists():
        return path
    partial = sibling(path, "partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        fill(partial)
        shutil.rmtree(path, ignore_errors=True)
        partial.rename(path)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return path


def parameter_count(hf_dir) -> int:
    """Weights in a folder's safetensors files, from their headers alone (no tensor is read)."""
    count = 0
    for file in sorted(Path(hf_dir).glob("*.safetensors")):
        with open(file, "rb") as f:
            header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
        for name, info in header.items():
            if name != "__metadata__":
                n = 1
                for d in info["shape"]:
                    n *= d
                count += n
    return count


def build_slices(root, layers=(2, 4), seed=0, sizes=None) -> dict:
    """{n_layers: HF folder}: random Phi-3-minis of each depth; the shallower hold exactly the first layers of
    the deeper (every tensor is drawn from its name and `seed`). `sizes` overrides the widths (tests use tiny ones)."""
    root = Path(root)
    return {n: write_random_phi3(root / f"hf-{n}l", n, sizes, seed) for n in layers}


def full_size_standin(root, seed=0, log=None) -> Path:
    """Phi-3-mini-4k-instruct's shape at full depth (3,821,079,552 parameters, 7.6 GB bf16), random weights."""
    return write_random_phi3(Path(root) / f"hf-{PHI3_MINI_LAYERS}l", PHI3_MINI_LAYERS, seed=seed, log=log)


# microsoft/Phi-3.5-mini-instruct's config.json where it differs from Phi-3-mini-4k's: the same widths, depth,
# vocabulary and ids; a 128K context through LongRoPE (its published factors, one per rotary pair of a
# 96-wide head), which switches from the short to the long factors past 4,096 tokens.
PHI35_MINI_LONGROPE = {
    "max_position_embeddings": 131072, "original_max_position_embeddings": 4096, "sliding_window": 262144,
    "rope_scaling": {"type": "longrope", "long_factor": [
        1.0800000429153442, 1.1100000143051147, 1.1399999856948853, 1.340000033378601, 1.5899999141693115,
        1.600000023841858, 1.6200000047683716, 2.620000123977661, 3.2300000190734863, 3.2300000190734863,
        4.789999961853027, 7.400000095367432, 7.700000286102295, 9.09000015258789, 12.199999809265137,
        17.670000076293945, 24.46000099182129, 28.57000160217285, 30.420001983642578, 30.840002059936523,
        32.590003967285156, 32.93000411987305, 42.320003509521484, 44.96000289916992, 50.340003967285156,
        50.45000457763672, 57.55000305175781, 57.93000411987305, 58.21000289916992, 60.1400032043457,
        62.61000442504883, 62.62000274658203, 62.71000289916992, 63.1400032043457, 63.1400032043457,
        63.77000427246094, 63.93000411987305, 63.96000289916992, 63.970001220703125, 64.02999877929688,
        64.06999969482422, 64.08000183105469, 64.12000274658203, 64.41000366210938, 64.4800033569336,
        64.51000213623047, 64.52999877929688, 64.83999633789062], "short_factor": [
        1.0, 1.0199999809265137, 1.0299999713897705, 1.0299999713897705, 1.0499999523162842, 1.0499999523162842,
        1.0499999523162842, 1.0499999523162842, 1.0499999523162842, 1.0699999332427979, 1.0999999046325684,
        1.1099998950958252, 1.1599998474121094, 1.1599998474121094, 1.1699998378753662, 1.2899998426437378,
        1.339999794960022, 1.679999828338623, 1.7899998426437378, 1.8199998140335083, 1.8499997854232788,
        1.8799997568130493, 1.9099997282028198, 1.9399996995925903, 1.9899996519088745, 2.0199997425079346,
        2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346, 2.0199997425079346,
        2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914,
        2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0299997329711914, 2.0799996852874756,
        2.0899996757507324, 2.189999580383301, 2.2199995517730713, 2.5899994373321533, 2.729999542236328,
        2.749999523162842, 2.8399994373321533]},
}


def phi35_standin(root, seed=0, log=None) -> Path:
    """Phi-3.5-mini-instruct's shape and LongRoPE config with the full-size stand-in's random weights, at
    ROOT/hf-32l-phi35: the weight files are hard links to full_size_standin's (copies where the disk has no
    links), so the two cost the disk one model."""
    source = full_size_standin(root, seed=seed, log=log)

    def fill(partial):
        shutil.copytree(source, partial, copy_function=_link_weights)
        config = {**json.loads((source / "config.json").read_text()), **PHI35_MINI_LONGROPE}
        (partial / "config.json").write_text(json.dumps(config, indent=2))

    return _made_once(Path(root) / f"hf-{PHI3_MINI_LAYERS}l-phi35", fill)


def _link_weights(src, dst):
    """copytree's copy: a weight file as a hard link where the disk allows, anything else (configs, which are
    rewritten) as a copy of its own."""
    if str(src).endswith(".safetensors"):
        try:
            return os.link(src, dst)
        except OSError:
            pass
    return shutil.copy2(src, dst)
