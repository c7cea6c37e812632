"""Both loaders tell a bad setting from a broken folder, and end in Phi3nbError either way."""

import json
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
def test_a_corrupt_graph_says_to_export_again(tiny_phi3_ov, tmp_path, loader):
    broken = tmp_path / "model"
    shutil.copytree(tiny_phi3_ov, broken)
    xml = broken / "openvino_model.xml"
    xml.write_text(xml.read_text()[:5000] + "<<garbage")
    with pytest.raises(Phi3nbError, match="delete the folder and export again"):
        LOADERS[loader](broken, device="CPU")


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
