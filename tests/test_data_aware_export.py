"""Data-aware int4 exports (scale estimation, AWQ, calibration data): flags, manifest, the printed line, a real run."""

import argparse
import shlex

import pytest

from phi3nb import Phi3nbError, export_command, export_model
from phi3nb.bench.presets import FAST_PRESET, FAST_SE_PRESET, PERPLEXITY_PRESETS, SLICE_PRESETS
from phi3nb.bench.perplexity import paragraph
from phi3nb.export.compression import CALIBRATION_TEXT, calibration_samples, quantization_config
from phi3nb.bench.ov_export import compress_model
from phi3nb.export.options import command_that_made, export_flags
from phi3nb.export.folder.swap import read_manifest

FAST = dict(weight_format="int4", group_size=128, ratio=1.0, sym=True)


@pytest.mark.parametrize("kwargs, fix", [
    ({**FAST, "weight_format": "int8", "group_size": -1, "scale_estimation": True, "dataset": "auto"},
     "weight_format='int4'"),
    ({**FAST, "awq": True, "weight_format": "fp16"}, "weight_format='int4'"),
    ({**FAST, "scale_estimation": True}, "dataset='auto'"),
    ({**FAST, "scale_estimation": True, "dataset": "wikitext2"}, "not available offline"),
    ({**FAST, "dataset": "auto"}, "would change nothing"),
    ({**FAST, "awq": True, "dataset": "auto", "num_samples": 0}, "positive integer"),
    ({**FAST, "awq": True, "num_samples": 64}, "together with a dataset"),
])
def test_bad_data_aware_options_name_the_fix(kwargs, fix, tmp_path):
    with pytest.raises(Phi3nbError) as info:
        export_model("unused", tmp_path / "out", **kwargs)
    assert fix in str(info.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Phi3nbError):
        export_command("m", "out", **kwargs)


def test_data_aware_flags_appear_only_when_set():
    plain = export_flags(**FAST)
    assert plain == {"weight_format": "int4", "group_size": 128, "ratio": 1.0, "sym": True}  # old manifests match
    se = export_flags(**FAST_SE_PRESET)
    assert se == {**plain, "scale_estimation": True, "dataset": CALIBRATION_TEXT}
    assert export_flags(**FAST, awq=True) == {**plain, "awq": True}  # data-free AWQ


def test_calibration_text_is_not_the_evaluation_text():
    samples = calibration_samples()
    assert len(samples) >= 32 and sum(len(s.split()) for s in samples) > 500
    evaluated = paragraph()
    assert not any(s in evaluated for s in samples)


def _optimum_cli_config(line):
    """What optimum-cli would pass to OVWeightQuantizationConfig for `line`."""
    from optimum.commands.export.openvino import OVExportCommand, prepare_wc_config

    parser = argparse.ArgumentParser()
    OVExportCommand.parse_args(parser)
    args = parser.parse_args(shlex.split(line)[3:])
    return prepare_wc_config(args, {"ratio": 1.0})


def test_auto_dataset_line_is_what_optimum_cli_runs():
    preset = {**FAST, "awq": True, "scale_estimation": True, "dataset": "auto", "num_samples": 64}
    line = export_command("m", "out", **preset)
    cli = _optimum_cli_config(line)
    ours = quantization_config(export_flags(**preset))
    for key in ("bits", "sym", "group_size", "ratio", "dataset", "num_samples", "scale_estimation"):
        assert cli[key] == getattr(ours, key), key
    assert cli["quant_method"] == ours.quant_method.value == "awq"


def test_packaged_text_line_says_optimum_cli_cannot_make_it():
    line = export_command("m", "out", **FAST_SE_PRESET)
    assert line.startswith("# no optimum-cli equivalent") and "calibration.txt" in line
    nearest = line[line.index("optimum-cli export"):]
    assert _optimum_cli_config(nearest)["dataset"] == "auto"  # the nearest line really differs, and says how
    assert isinstance(quantization_config(export_flags(**FAST_SE_PRESET)).dataset, list)


def test_bench_runs_the_se_preset_beside_the_fast_one():
    assert {"int4-fast", "int4-fast-se"} <= set(PERPLEXITY_PRESETS) and {"fast", "fast-se"} <= set(SLICE_PRESETS)
    assert {k: FAST_SE_PRESET[k] for k in FAST_PRESET} == FAST_PRESET  # same weight format, so the same graph
    assert FAST_SE_PRESET["scale_estimation"] and FAST_SE_PRESET["dataset"] == CALIBRATION_TEXT


@pytest.fixture(scope="module")
def tiny_fp16(tiny_phi3_hf, tmp_path_factory):
    return export_model(tiny_phi3_hf, tmp_path_factory.mktemp("fp16") / "fp16", weight_format="fp16")


def _weights(folder):
    import numpy as np
    import openvino as ov

    model = ov.Core().read_model(str(folder / "openvino_model.xml"))
    return [op.get_vector() if op.get_element_type() == ov.Type.f16 else np.array(op.get_data(), copy=True)
            for op in model.get_ops() if op.get_type_name() == "Constant"
            and op.get_element_type() in (ov.Type.i4, ov.Type.f16)]


def test_scale_estimation_runs_end_to_end_and_is_recorded(tiny_fp16, tmp_path, capsys):
    import numpy as np

    plain = compress_model(tiny_fp16, tmp_path / "fast", **FAST)
    se = compress_model(tiny_fp16, tmp_path / "se", **FAST_SE_PRESET)
    assert read_manifest(se)["flags"] == export_flags(**FAST_SE_PRESET)
    assert command_that_made(se).startswith("# no optimum-cli equivalent")
    assert command_that_made(plain).startswith("optimum-cli export openvino")
    a, b = _weights(plain), _weights(se)
    assert [w.shape for w in a] == [w.shape for w in b]  # same format...
    assert any(not np.array_equal(x, y) for x, y in zip(a, b))  # ...other values: scale estimation ran

    capsys.readouterr()
    compress_model(tiny_fp16, tmp_path / "se", **FAST_SE_PRESET)
    assert "reusing it" in capsys.readouterr().out
    compress_model(tiny_fp16, tmp_path / "se", **{**FAST_SE_PRESET, "dataset": "auto"})
    assert "re-exporting" in capsys.readouterr().out
    assert read_manifest(tmp_path / "se")["flags"]["dataset"] == "auto"
