"""Both loaders tell a bad setting from a broken folder, and end in Phi3nbError either way."""

import json
import re
import shutil

import pytest

from phi3nb import Phi3nbError, load_model
from phi3nb.run.genai import GenaiModel, load_genai

LOADERS = {"optimum": load_model, "genai": load_genai}


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("key, value, says", [
    ("PERFORMANCE_HINT", "FAST", "Expected only"), ("NUM_STREAMS", "many", "number of streams"),
    ("INFERENCE_PRECISION_HINT", "f33", "Supported values"),
])
def test_a_bad_ov_config_value_is_named_not_blamed_on_the_files(tiny_phi3_ov, loader, key, value, says):
    with pytest.raises(Phi3nbError) as info:
        LOADERS[loader](tiny_phi3_ov, device="CPU", ov_config={"PERFORMANCE_HINT": "LATENCY", key: value})
    message = str(info.value)
    assert f"'{key}': '{value}'" in message and says in message and "Fix that value" in message
    assert "corrupt" not in message and "Exception from" not in message


@pytest.mark.parametrize("loader", LOADERS)
def test_an_option_of_genais_pipeline_is_named_as_such_not_as_an_unknown_key(tiny_phi3_ov, loader):
    """openvino_genai's samples pass ATTENTION_BACKEND beside the device's properties; phi3nb says what it is and
    why the chat does without it, instead of offering the closest device key."""
    with pytest.raises(Phi3nbError) as info:
        LOADERS[loader](tiny_phi3_ov, device="CPU", ov_config={"PERFORMANCE_HINT": "LATENCY", "ATTENTION_BACKEND": "SDPA"})
    message = str(info.value)
    assert message.startswith("'ATTENTION_BACKEND' is an option of openvino_genai's LLMPipeline, not of the CPU device")
    assert "prefix cache" in message and message.endswith("Leave it out of ov_config.")
    assert "Unknown" not in message and "Did you mean" not in message


@pytest.mark.parametrize("loader", LOADERS)
def test_a_corrupt_graph_says_to_export_again(tiny_phi3_ov, tmp_path, loader):
    broken = tmp_path / "model"
    shutil.copytree(tiny_phi3_ov, broken)
    xml = broken / "openvino_model.xml"
    xml.write_text(xml.read_text()[:5000] + "<<garbage")
    with pytest.raises(Phi3nbError, match="delete the folder and export again"):
        LOADERS[loader](broken, device="CPU")


@pytest.mark.parametrize("name", ["openvino_detokenizer.xml", "openvino_tokenizer.xml"])
def test_a_corrupt_tokenizer_ir_says_to_export_again(tiny_phi3_ov, tmp_path, name):
    broken = tmp_path / "model"
    shutil.copytree(tiny_phi3_ov, broken)
    (broken / name).write_text((broken / name).read_text()[:3000] + "<<garbage")
    with pytest.raises(Phi3nbError, match="delete the folder and export again") as info:
        load_genai(broken, device="CPU")
    assert name in str(info.value)


def raising(error):
    def fail(*args, **kwargs):
        raise error
    return fail


# What OpenVINO raises when memory runs out (pybind11 turns std::bad_alloc into MemoryError) or a device fails.
OUT_OF_MEMORY = [MemoryError("std::bad_alloc"),
                 RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp:223:\nException from "
                              "src/plugins/intel_cpu/src/memory.cpp:41:\nCannot allocate memory")]
DEVICE_FAILURE = RuntimeError("Exception from src/inference/src/cpp/infer_request.cpp:223:\nException from "
                              "src/plugins/intel_cpu/src/graph.cpp:1412:\n[CPU] FullyConnected node fc_7: execution "
                              "failed")


def says_memory(message, available="3 GB"):
    assert "Not enough memory to load and warm up" in message and f"this machine has {available} available" in message
    assert re.search(r"fit check puts what it needs at ~[\d.e-]+ GB besides its weight file \([\d.e-]+ GB in all\)",
                     message), message
    assert "ov_model = None" in message and "keep it" in message


def keeps_the_export(message):
    assert "delete" not in message and "corrupt" not in message and "export again" not in message, message


@pytest.mark.parametrize("error", OUT_OF_MEMORY, ids=["bad_alloc", "ENOMEM"])
def test_running_out_of_memory_in_the_warm_up_gives_the_fit_figures_and_keeps_the_export(tiny_phi3_ov, monkeypatch,
                                                                                        error):
    monkeypatch.setattr("phi3nb.export.fit._memory", lambda: (3 * 10 ** 9, 0))
    monkeypatch.setattr(GenaiModel, "warm_up", raising(error))
    with pytest.raises(Phi3nbError) as info:
        load_genai(tiny_phi3_ov, device="CPU")
    says_memory(str(info.value))
    keeps_the_export(str(info.value))


def test_a_device_failure_in_the_warm_up_names_the_device_and_keeps_the_export(tiny_phi3_ov, monkeypatch):
    monkeypatch.setattr(GenaiModel, "warm_up", raising(DEVICE_FAILURE))
    with pytest.raises(Phi3nbError) as info:
        load_genai(tiny_phi3_ov, device="CPU")
    message = str(info.value)
    assert "could not load or run int4 on CPU: [CPU] FullyConnected node fc_7: execution failed" in message
    assert "a failure of the CPU or of OpenVINO, not of the files: keep them" in message
    keeps_the_export(message)


@pytest.mark.parametrize("error", [OUT_OF_MEMORY[0], DEVICE_FAILURE], ids=["memory", "device"])
def test_load_model_tells_memory_and_device_failures_from_broken_files(tiny_phi3_ov, monkeypatch, error):
    from optimum.intel import OVModelForCausalLM

    monkeypatch.setattr("phi3nb.export.fit._memory", lambda: (3 * 10 ** 9, 0))
    monkeypatch.setattr(OVModelForCausalLM, "from_pretrained", raising(error))
    with pytest.raises(Phi3nbError) as info:
        load_model(tiny_phi3_ov, device="CPU")
    message = str(info.value)
    if isinstance(error, MemoryError):
        says_memory(message)
    else:
        assert "on CPU" in message and "execution failed" in message
    keeps_the_export(message)


class FakePipe:
    """Records the GenerationConfig generate_ids hands to LLMPipeline.generate."""

    def __init__(self, eos):
        import openvino_genai as ov_genai

        self.config = ov_genai.GenerationConfig()
        self.config.eos_token_id = eos

    def get_generation_config(self):
        return self.config

    def generate(self, inputs, config, streamer):
        self.sent = config
        return type("Result", (), {"tokens": [[5, 6]]})()


def test_genai_keeps_the_models_own_eos_beside_every_stop_id(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 2048, "eos_token_id": 2}))
    pipe = FakePipe(eos=2)
    model = GenaiModel(pipe, tmp_path)
    model.generate_ids([1, 2, 3], [0, 2, 7], {"max_new_tokens": 4, "do_sample": False})
    assert pipe.sent.eos_token_id == 2 and pipe.sent.stop_token_ids == {0, 2, 7}
