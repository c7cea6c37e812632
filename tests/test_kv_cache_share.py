"""The KV cache's share of memory: bytes a token for the real models' shapes and the precision OpenVINO picks,
the context a chat can plan on from the memory left beside the model, and the fit check that counts it."""

import json

import pytest

from phi3nb import Phi3nbError
from phi3nb.export import fit
from phi3nb.run.genai import chat_plan

# config.json's shapes as microsoft publishes them (32 layers; head dim 96 and 128)
PHI35_MINI = {"hidden_size": 3072, "num_attention_heads": 32, "num_key_value_heads": 32, "num_hidden_layers": 32,
              "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
              "rope_scaling": {"type": "longrope", "short_factor": [1.0] * 48, "long_factor": [2.0] * 48}}
PHI4_MINI = {"hidden_size": 3072, "num_attention_heads": 24, "num_key_value_heads": 8, "num_hidden_layers": 32,
             "partial_rotary_factor": 0.75, "max_position_embeddings": 131072}


def test_bytes_a_token_for_the_real_models():
    """layers x KV heads x (K and V) x head dim x bytes, plus u8's scale and zero point per head: Phi-4-mini's
    grouped KV (8 heads of 128) takes a third of Phi-3.5-mini's (32 of 96)."""
    assert fit.kv_bytes_per_token(PHI35_MINI, "u8") == 32 * 32 * 2 * (96 + 8) == 212_992
    assert fit.kv_bytes_per_token(PHI4_MINI, "u8") == 32 * 8 * 2 * (128 + 8) == 69_632
    assert fit.kv_bytes_per_token(PHI35_MINI, "f16") == 32 * 32 * 2 * 96 * 2
    assert fit.kv_bytes_per_token({**PHI4_MINI, "head_dim": 64}, "f32") == 32 * 8 * 2 * 64 * 4


@pytest.fixture(scope="module")
def fp16_export(tiny_phi3_hf, tmp_path_factory):
    from phi3nb import export_model

    return export_model(tiny_phi3_hf, tmp_path_factory.mktemp("fp16") / "fp16", weight_format="fp16")


@pytest.mark.parametrize("ov_config", [{}, {"KV_CACHE_PRECISION": "u8"}, {"INFERENCE_PRECISION_HINT": "f32"}])
def test_the_precision_is_the_compiled_models(tiny_phi3_ov, fp16_export, ov_config):
    """What kv_cache_precision reads without compiling is what the compiled model says: an unquantized export
    asks for f16 in its rt_info (optimum-intel), a quantized one takes the device's default, ov_config wins."""
    import openvino as ov

    core = ov.Core()
    for folder in (tiny_phi3_ov, fp16_export):
        compiled = core.compile_model(str(folder / "openvino_model.xml"), "CPU", ov_config)
        expected = fit._type_name(compiled.get_property("KV_CACHE_PRECISION"))
        assert fit.kv_cache_precision(folder, "CPU", ov_config) == expected, (folder.name, ov_config)
    assert fit.kv_cache_precision(fp16_export, "CPU", {}) == "f16"


def fake_folder(path, config):
    """A model folder as far as the fit check reads it: config.json, a 50 MB weight file, an xml without
    runtime_options (so the CPU's own KV cache precision)."""
    path.mkdir()
    (path / "config.json").write_text(json.dumps(config))
    with open(path / "openvino_model.bin", "wb") as f:
        f.truncate(50 * 10 ** 6)
    (path / "openvino_model.xml").write_text("<net><rt_info></rt_info></net>")
    return path


def test_the_context_is_what_memory_holds_and_the_load_line_says_why(tmp_path, monkeypatch):
    """Phi-3.5-mini's context is 131,072 tokens, but with 1 GB spare beside the model this machine holds 8,192
    tokens of its u8 KV cache (4,096 within the measured chat, 4,096 more in the GB): the plan says so, and
    with memory to spare it is the model's own."""
    import openvino as ov

    monkeypatch.delenv(fit.SKIP, raising=False)
    folder = fake_folder(tmp_path / "phi35", PHI35_MINI)
    need = fit.load_needs(folder)[1]
    precision = fit._type_name(ov.Core().get_property("CPU", "KV_CACHE_PRECISION"))
    per_token = fit.kv_bytes_per_token(PHI35_MINI, precision)
    monkeypatch.setattr(fit, "_memory", lambda: (need + 4600 * per_token, 0))
    plan = chat_plan(folder, "CPU", {})
    assert plan["context"] == 4096 + 4096 and plan["follows_switch"]
    assert plan["note"].startswith("chats can hold 8,192 tokens: what this machine's available memory holds")
    assert f"{precision}, {per_token:,.0f} bytes a token" in plan["note"] and "131,072" in plan["note"]
    assert plan["kv_bytes"] == 4096 * per_token
    monkeypatch.setattr(fit, "_memory", lambda: (need + 200_000 * per_token, 0))
    plan = chat_plan(folder, "CPU", {})
    assert (plan["context"], plan["note"]) == (131072, "chats can hold 131,072 tokens: the model's own context "
                                                        "(max_position_embeddings)")


def test_the_fit_check_counts_the_kv_cache(tmp_path, monkeypatch):
    """The KV cache of the context the chat will hold is memory that cannot be dropped: a machine that holds
    the model but not that cache is refused, and the message gives the cache's share."""
    monkeypatch.delenv(fit.SKIP, raising=False)
    folder = fake_folder(tmp_path / "phi4", PHI4_MINI)
    anon, total = fit.load_needs(folder)
    monkeypatch.setattr(fit, "_memory", lambda: (total + 1, 0))
    fit.check_load_fits(folder, "CPU")  # the model alone fits
    with pytest.raises(Phi3nbError, match=r"of it ~2\.\d+ GB for the chat's KV cache"):
        fit.check_load_fits(folder, "CPU", kv_bytes=2.5e9)
