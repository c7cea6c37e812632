"""load_genai's CPU default fits the activations' quantization group to the export's int4 group."""

import json

import pytest

from phi3nb.run.cpu_config import FAST_CPU_CONFIG
from phi3nb.run.cpu_config import fast_cpu_config
from phi3nb.export.folder.model_dir import int4_group_size

DQ = "DYNAMIC_QUANTIZATION_GROUP_SIZE"


def _ir(tmp_path, mode, group):
    """A folder whose XML ends like nncf's rt_info does (only the tail is read)."""
    rt = (f'<rt_info><nncf><weight_compression><group_size value="{group}" />'
          f'<mode value="{mode}" /><ratio value="1.0" /></weight_compression></nncf></rt_info></net>')
    (tmp_path / "openvino_model.xml").write_text("<net>" + " " * 100_000 + rt)
    return tmp_path


@pytest.mark.parametrize("mode, group, expected", [
    ("int4_sym", 64, 64), ("int4_asym", 32, 32), ("int4_sym", 128, 128), ("int4_sym", -1, 128),
    ("int8_sym", -1, 128), ("int4_sym", 256, 128)])
def test_group_never_larger_than_the_weights(tmp_path, mode, group, expected):
    assert fast_cpu_config(_ir(tmp_path, mode, group))[DQ] == expected
    assert FAST_CPU_CONFIG[DQ] == 128  # the base is not changed


def test_unknown_export_keeps_the_default(tmp_path):
    (tmp_path / "openvino_model.xml").write_text("<net><rt_info></rt_info></net>")
    assert int4_group_size(tmp_path) is None
    assert fast_cpu_config(tmp_path) == FAST_CPU_CONFIG
    assert int4_group_size(tmp_path / "missing") is None


def test_real_export_records_the_group_it_was_made_with(tiny_phi3_ov):
    flags = json.loads((tiny_phi3_ov / "phi3nb_export.json").read_text())["flags"]
    assert int4_group_size(tiny_phi3_ov) == flags["group_size"]


def test_load_genai_uses_the_fitted_config(tiny_phi3_ov, monkeypatch):
    import phi3nb.run.cpu_config as cpu_config
    import phi3nb.run.genai as gb

    seen = {}
    monkeypatch.setattr(cpu_config, "int4_group_size", lambda path: 32)
    monkeypatch.setattr(gb, "check_ov_config", lambda config, device: seen.setdefault("config", config))

    def stop(props, path):  # before compiling: only the config matters here
        raise RuntimeError("stop")

    monkeypatch.setattr(gb, "writable_cache", stop)
    with pytest.raises(RuntimeError, match="stop"):
        gb.load_genai(tiny_phi3_ov, device="CPU")
    assert seen["config"][DQ] == 32
