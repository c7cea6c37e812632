"""Broken model folders end in Phi3nbError with the fix, and are left as they were."""

import shutil

import pytest

from phi3nb import Phi3nbError, check_model_dir, load_model, load_tokenizer


@pytest.fixture
def copy_of(tiny_phi3_ov, tmp_path):
    dst = tmp_path / "model"
    shutil.copytree(tiny_phi3_ov, dst)
    return dst


def _snapshot(path):
    return {p.name: p.read_bytes() for p in path.iterdir()} if path.exists() else None


def _fails(path, fix, *, call=load_model):
    before = _snapshot(path)
    with pytest.raises(Phi3nbError) as info:
        call(path)
    assert fix in str(info.value)
    assert _snapshot(path) == before
    return str(info.value)


def test_missing_folder_says_to_export_first(tmp_path):
    _fails(tmp_path / "nope", "export")


def test_interrupted_export_is_named(tmp_path):
    (tmp_path / ".nope.partial").mkdir()
    assert "interrupted" in _fails(tmp_path / "nope", "run it again")


def test_empty_folder(tmp_path):
    _fails(tmp_path, "holds no OpenVINO model")


@pytest.mark.parametrize("gone", ["openvino_model.bin", "openvino_model.xml"])
def test_half_a_model(copy_of, gone):
    (copy_of / gone).unlink()
    assert gone in _fails(copy_of, "export again")


def test_truncated_weights(copy_of):
    data = (copy_of / "openvino_model.bin").read_bytes()
    (copy_of / "openvino_model.bin").write_bytes(data[: len(data) // 2])
    assert "truncated" in _fails(copy_of, "export again")


def test_corrupt_graph(copy_of):
    xml = copy_of / "openvino_model.xml"
    xml.write_text(xml.read_text()[:5000] + "<<garbage")
    _fails(copy_of, "export again")


def test_missing_tokenizer(copy_of):
    for p in copy_of.glob("tokenizer*"):
        p.unlink()
    _fails(copy_of, "Export again", call=load_tokenizer)


def test_unknown_ov_config_key_suggests_the_right_one(tiny_phi3_ov):
    with pytest.raises(Phi3nbError, match="Did you mean 'PERFORMANCE_HINT'"):
        load_model(tiny_phi3_ov, device="CPU", ov_config={"PERFORMANCE_HINTS": "LATENCY"})


def test_complete_export_passes(tiny_phi3_ov):
    assert check_model_dir(tiny_phi3_ov) == tiny_phi3_ov
