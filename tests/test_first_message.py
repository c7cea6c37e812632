"""The first message is not the slow one: load_genai does OpenVINO's first-inference work itself, and its
last line says what the load did (compiled, read from a cache, warmed up).

The CPU plugin lays out each layer's weights in its own memory at a model's first inference, so that
work shows as anonymous memory appearing: counted here in /proc/self/status, not timed.
"""

import re
import sys
from pathlib import Path

import pytest

import phi3nb
import phi3nb.run.genai as gb
from phi3nb.chat.turn import chat_turn
from pinned import SAME_WORDS


def _anon_bytes():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))


def _first_turn(model, tok):
    """(reply, anonymous memory the reply added): the first turn of a conversation."""
    before = _anon_bytes()
    turn = chat_turn(model, tok, [], "What is the capital of France?", system="You are a helpful assistant.",
                     max_new_tokens=16)
    return turn.reply, _anon_bytes() - before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_load_genai_does_the_first_inference_work_and_the_first_turn_answers_as_a_fresh_pipeline(capsys):
    import openvino_genai as ov_genai

    path = phi3nb.prepare_embedded_model()
    tok = phi3nb.load_tokenizer(path)
    warmed = gb.load_genai(path, device="CPU", ov_config=SAME_WORDS)
    said = capsys.readouterr().out
    reply, added = _first_turn(warmed, tok)
    fresh = gb.GenaiModel(ov_genai.LLMPipeline(str(path), "CPU", **SAME_WORDS), path)  # no warm-up
    fresh_reply, fresh_added = _first_turn(fresh, tok)
    weights = (path / "openvino_model.bin").stat().st_size
    assert fresh_added > weights / 2, "premise: a fresh pipeline's first reply lays its weights out"
    assert added < fresh_added / 4, (added, fresh_added)
    assert reply == fresh_reply and "Paris" in reply  # the warm-up left nothing a chat reuses wrongly
    assert re.search(r"loaded in [\d.]+ s \(compiled: [\d.]+ s; warmed up: [\d.]+ s\)", said), said


def _stamps(folder):
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


def test_the_load_line_says_whether_openvino_read_the_cache_back(tiny_phi3_ov, tmp_path, capsys):
    for name, load in (("genai", gb.load_genai), ("optimum", phi3nb.load_model)):
        cache = tmp_path / name
        load(tiny_phi3_ov, device="CPU", ov_config={**SAME_WORDS, "CACHE_DIR": str(cache)})
        assert f"compiled, cached in {cache}" in capsys.readouterr().out
        written = _stamps(cache)
        assert written
        load(tiny_phi3_ov, device="CPU", ov_config={**SAME_WORDS, "CACHE_DIR": str(cache)})
        said = capsys.readouterr().out
        if _stamps(cache) == written:
            assert f"from the cache in {cache}" in said, said
        else:  # the CPU cannot read back genai's paged-attention blob: it is written again
            assert f"compiled again, as OpenVINO did not read back the cache in {cache}" in said, said
        if name == "optimum":
            assert f"from the cache in {cache}" in said  # the cookbook's model reads back on the CPU


class _DeviceCache:
    """An LLMPipeline on a device whose compiled model reads back: it writes a blob once, then only reads it."""

    made = []

    def __init__(self, path, device, **props):
        self.props = props
        type(self).made.append(self)
        if props.get("CACHE_DIR"):
            blob = Path(props["CACHE_DIR"]) / "model.blob"
            if not blob.exists():
                blob.parent.mkdir(parents=True, exist_ok=True)
                blob.write_bytes(b"compiled")

    def get_generation_config(self):
        return type("Config", (), {})()

    def generate(self, inputs, config, streamer=None):
        return None


def test_the_chat_keeps_its_compiled_model_per_user_on_a_gpu_and_not_on_the_cpu(tiny_phi3_ov, tmp_path,
                                                                                monkeypatch, capsys):
    import openvino_genai as ov_genai

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    compiled = tmp_path / "home" / ".cache" / "phi3nb" / "compiled"
    gb.load_genai(tiny_phi3_ov, device="CPU")
    assert not compiled.exists() and "compiled:" in capsys.readouterr().out  # on the CPU it cannot read it back

    monkeypatch.setattr(gb, "resolve_device", lambda device: "GPU")
    monkeypatch.setattr(ov_genai, "LLMPipeline", _DeviceCache)
    gb.load_genai(tiny_phi3_ov, device="GPU")
    gb.load_genai(tiny_phi3_ov, device="GPU")
    folder = gb.compiled_cache_dir(tiny_phi3_ov)
    assert folder.parent == compiled and folder.is_dir()
    first, second = _DeviceCache.made[-2:]
    assert first.props["CACHE_DIR"] == str(folder) and first.props["CACHE_MODE"] == "OPTIMIZE_SIZE"
    said = capsys.readouterr().out
    assert f"compiled, cached in {folder}" in said and f"from the cache in {folder}" in said

    gb.load_genai(tiny_phi3_ov, device="GPU", ov_config={"CACHE_DIR": ""})  # the documented way to turn it off
    assert "CACHE_DIR" not in _DeviceCache.made[-1].props and "(compiled:" in capsys.readouterr().out
