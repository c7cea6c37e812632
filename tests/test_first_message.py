"""The first message is not the slow one: load_genai does OpenVINO's first-inference work itself, and its
last line says what the load did (compiled, read from a cache, warmed up).

The CPU plugin lays out each layer's weights in its own memory at a model's first inference, so that
work shows as anonymous memory appearing: counted here in /proc/self/status, not timed.
"""

import hashlib
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


def test_the_load_line_says_what_openvino_did_with_a_cache_dir_on_the_cpu(tiny_phi3_ov, tmp_path, capsys):
    """A second load on the CPU with the same CACHE_DIR: the cookbook's model is read back; genai's is compiled
    and written again, as OpenVINO 2026.4 cannot read back the CPU's paged-attention blob (the reason
    compile_cache.CACHED_DEVICES leaves the CPU out). The line says so, and the files agree."""
    said_again = {"genai": "compiled again, as OpenVINO did not read back the cache in {}",
                  "optimum": "from the cache in {}"}
    for name, load in (("genai", gb.load_genai), ("optimum", phi3nb.load_model)):
        cache = tmp_path / name
        load(tiny_phi3_ov, device="CPU", ov_config={**SAME_WORDS, "CACHE_DIR": str(cache)})
        assert f"compiled, cached in {cache}" in capsys.readouterr().out
        written = _stamps(cache)
        assert written
        load(tiny_phi3_ov, device="CPU", ov_config={**SAME_WORDS, "CACHE_DIR": str(cache)})
        said = capsys.readouterr().out
        assert (_stamps(cache) == written) is (name == "optimum"), (
            f"{name}: OpenVINO now {'reads' if name == 'genai' else 'does not read'} its CPU blob back; if genai "
            "reads it, compile_cache.CACHED_DEVICES could take the CPU")
        assert said_again[name].format(cache) in said, said


class _Pipeline:
    """openvino_genai.LLMPipeline replaced: it records the properties load_genai passed, and does to the
    CACHE_DIR what the test says OpenVINO did (`act`), so the load line's reading of the folder is tested."""

    made, act = [], None

    def __init__(self, path, device, **props):
        self.device, self.props = device, props
        type(self).made.append(self)
        if props.get("CACHE_DIR") and type(self).act:
            type(self).act(Path(props["CACHE_DIR"]))

    def get_generation_config(self):
        return type("Config", (), {})()

    def generate(self, inputs, config, streamer=None):
        return None


@pytest.fixture
def fake_pipeline(monkeypatch, tmp_path):
    """(_Pipeline, the per-user compiled folder): any device name passes as it is (this machine may have no
    GPU or NPU to check properties against), HOME is the test's."""
    import openvino_genai as ov_genai

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(gb, "resolve_device", lambda device: device)
    monkeypatch.setattr(gb, "check_ov_config", lambda config, device: config)
    monkeypatch.setattr(ov_genai, "LLMPipeline", _Pipeline)
    _Pipeline.made, _Pipeline.act = [], None
    return _Pipeline, tmp_path / "home" / ".cache" / "phi3nb" / "compiled"


def test_by_default_the_cpu_gets_no_cache_dir(tiny_phi3_ov, fake_pipeline, capsys):
    pipeline, compiled = fake_pipeline
    gb.load_genai(tiny_phi3_ov, device="CPU")
    props = pipeline.made[-1].props
    assert "CACHE_DIR" not in props and "CACHE_MODE" not in props, props
    assert re.search(r"\(compiled: [\d.]+ s;", capsys.readouterr().out) and not compiled.exists()


@pytest.mark.parametrize("device", ["GPU", "GPU.1", "NPU"])
def test_by_default_a_gpu_or_npu_keeps_its_compiled_model_per_user_without_the_weights(tiny_phi3_ov, fake_pipeline,
                                                                                      device):
    pipeline, compiled = fake_pipeline
    gb.load_genai(tiny_phi3_ov, device=device)
    props = pipeline.made[-1].props
    folder = compiled / f"{tiny_phi3_ov.name}-{hashlib.sha1(str(tiny_phi3_ov.resolve()).encode()).hexdigest()[:10]}"
    assert props["CACHE_DIR"] == str(folder) == str(gb.compiled_cache_dir(tiny_phi3_ov))
    assert props["CACHE_MODE"] == "OPTIMIZE_SIZE"  # OpenVINO's weightless blob: the weights stay in the model folder


def test_a_cache_dir_the_caller_chose_wins_and_an_empty_one_turns_caching_off(tiny_phi3_ov, fake_pipeline, tmp_path):
    pipeline, compiled = fake_pipeline
    mine = tmp_path / "mine"
    for device in ("CPU", "GPU"):
        gb.load_genai(tiny_phi3_ov, device=device, ov_config={"CACHE_DIR": str(mine)})
        assert pipeline.made[-1].props["CACHE_DIR"] == str(mine), device
        gb.load_genai(tiny_phi3_ov, device=device, ov_config={"CACHE_DIR": ""})  # the documented way to turn it off
        assert "CACHE_DIR" not in pipeline.made[-1].props, device  # genai would read "" as a folder name
    assert not compiled.exists()


def _write(folder, name, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


# What OpenVINO does to the compiled-model folder during the load (before: the folder as the load finds it),
# and what the load's last line must then say.
CACHE_CASES = {
    "writes a blob into an empty folder": (None, lambda d: _write(d, "m.blob", b"compiled"), "compiled, cached in"),
    "leaves the blob there untouched": (b"compiled", lambda d: None, "from the cache in"),
    "writes that blob again": (b"compiled", lambda d: _write(d, "m.blob", b"compiled again"),
                               "compiled again, as OpenVINO did not read back the cache in"),
    "writes nothing": (None, lambda d: d.mkdir(parents=True, exist_ok=True), "compiled; OpenVINO cached nothing in"),
}


@pytest.mark.parametrize("case", CACHE_CASES)
def test_the_load_line_reads_what_openvino_did_from_the_folder(case, tiny_phi3_ov, fake_pipeline, capsys):
    pipeline, _ = fake_pipeline
    before, act, line = CACHE_CASES[case]
    folder = gb.compiled_cache_dir(tiny_phi3_ov)
    if before is not None:
        _write(folder, "m.blob", before)
    pipeline.act = act
    gb.load_genai(tiny_phi3_ov, device="GPU")
    said = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(rf"\[phi3nb\] loaded in [\d.]+ s \({re.escape(line)} {re.escape(str(folder))}: [\d.]+ s; "
                        r"warmed up: [\d.]+ s\)", said), said
