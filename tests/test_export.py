import errno
import json
import shlex
import types

import pytest

import phi3nb
from phi3nb import Phi3nbError, export_command, export_model
from phi3nb.export.folder.swap import MANIFEST
from phi3nb.export.source_config import GroupSizeWarning, effective_group_size, needs_remote_code, valid_group_sizes

COOKBOOK_LINE = ('optimum-cli export openvino --model "microsoft/Phi-3-mini-4k-instruct" --task '
             "text-generation-with-past --weight-format int4 --group-size 128 --ratio 0.6 --sym "
             "--trust-remote-code ./model/phi3-instruct/int4")


def test_export_command_reproduces_the_cookbook_line():
    line = export_command(phi3nb.COOKBOOK_MODEL_ID, phi3nb.COOKBOOK_MODEL_DIR, trust_remote_code=True)
    assert shlex.split(line) == shlex.split(COOKBOOK_LINE)


def test_export_command_has_export_models_defaults():
    """No --trust-remote-code unless asked: export_model's default does not pass it either."""
    assert "--trust-remote-code" not in shlex.split(export_command(phi3nb.COOKBOOK_MODEL_ID, phi3nb.COOKBOOK_MODEL_DIR))


def test_export_command_other_formats_drop_int4_only_flags():
    int8 = shlex.split(export_command("m", "out", weight_format="int8", trust_remote_code=False))
    assert "--group-size" not in int8 and "--ratio" not in int8 and "--trust-remote-code" not in int8
    assert int8[int8.index("--weight-format") + 1] == "int8"
    fp16 = shlex.split(export_command("m", "out", weight_format="fp16"))
    assert "--sym" not in fp16 and fp16[-1] == "out"


@pytest.mark.parametrize("kwargs, fix", [
    ({"weight_format": "int3"}, "int4, int8, fp16"),
    ({"ratio": 0}, "(0, 1]"),
    ({"ratio": 1.5}, "(0, 1]"),
    ({"ratio": "0.6"}, "(0, 1]"),
    ({"group_size": 0}, "-1"),
    ({"group_size": 12.5}, "positive integer"),
])
def test_bad_export_options_name_the_fix(kwargs, fix, tmp_path):
    with pytest.raises(Phi3nbError) as info:
        export_model("unused", tmp_path / "out", **kwargs)
    assert fix in str(info.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(Phi3nbError):
        export_command("m", "out", **kwargs)


def _config(hidden, intermediate, heads):
    return types.SimpleNamespace(hidden_size=hidden, intermediate_size=intermediate,
                                 num_attention_heads=heads, head_dim=None)


def test_group_size_is_checked_against_layer_widths():
    phi3 = _config(3072, 8192, 32)
    assert valid_group_sizes(phi3)[:2] == [256, 128]
    assert effective_group_size(phi3, 128) == 128
    phi4_mini = _config(3072, 8192, 24)  # head width 128, 8 KV heads: their projections' input is still 3072
    assert effective_group_size(phi4_mini, 128) == 128
    smollm2 = _config(576, 1536, 9)
    assert 128 not in valid_group_sizes(smollm2)
    with pytest.warns(GroupSizeWarning, match="using 64"):
        assert effective_group_size(smollm2, 128) == 64


def test_needs_remote_code_reads_the_config_as_transformers_does(tiny_phi3_hf, tmp_path):
    assert needs_remote_code(str(tiny_phi3_hf)) is False  # phi3 is native in transformers
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "config.json").write_text(json.dumps(
        {"model_type": "my_custom_lm", "auto_map": {"AutoConfig": "configuration_my.MyConfig"}}))
    assert needs_remote_code(str(custom)) is True
    # the hub's Phi-3 config: auto_map to its own files, but a type transformers has, so its own code is used
    (custom / "config.json").write_text(json.dumps(
        {"model_type": "phi3", "auto_map": {"AutoConfig": "configuration_phi3.Phi3Config"}}))
    assert needs_remote_code(str(custom)) is False


def test_unreachable_model_id_points_to_the_embedded_model(tmp_path):
    with pytest.raises(Phi3nbError, match="PHI3NB_MODEL_ID=embedded"):
        export_model("microsoft/Phi-3-mini-4k-instruct", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cookbook_export_writes_a_complete_model_and_manifest(member_ov, member_hf):
    """On each Phi model's stand-in: its widths are the real ones' multiples of 128, so no group-size fallback."""
    names = {p.name for p in member_ov.iterdir()}
    assert {"openvino_model.xml", "openvino_model.bin", "openvino_tokenizer.xml",
            "openvino_detokenizer.xml", "tokenizer.json", MANIFEST} <= names
    manifest = json.loads((member_ov / MANIFEST).read_text())
    assert manifest["flags"] == {"weight_format": "int4", "group_size": 128, "ratio": 0.6, "sym": True}
    assert manifest["source"] == str(member_hf) and manifest["trust_remote_code"] is False
    assert manifest["versions"]["optimum-intel"] and manifest["versions"]["openvino"]
    # only the export lock stays beside it (deleting a lock file races with its next user)
    assert [p.name for p in member_ov.parent.iterdir() if p.name.startswith(".")] == [".int4.lock"]


def test_int4_weights_really_are_int4(member_ov):
    import openvino as ov

    model = ov.Core().read_model(member_ov / "openvino_model.xml")
    kinds = [op.get_element_type().get_type_name() for op in model.get_ops() if op.get_type_name() == "Constant"]
    # ratio 0.6: some matrices int4 (sym, no zero point), the rest int8 (u8 with zero point)
    assert kinds.count("i4") >= 2 and kinds.count("u8") >= 2


def test_second_call_reuses_the_export(tiny_phi3_ov, tiny_phi3_hf, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in tiny_phi3_ov.iterdir()}
    assert export_model(tiny_phi3_hf, tiny_phi3_ov) == tiny_phi3_ov
    assert {p.name: p.stat().st_mtime_ns for p in tiny_phi3_ov.iterdir()} == before
    assert "reusing" in capsys.readouterr().out


def test_disk_full_leaves_nothing_behind(tiny_phi3_hf, tmp_path, monkeypatch):
    def fill_disk(source, target, *args):
        (target / "openvino_model.bin").write_bytes(b"\0" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("phi3nb.export.convert.run_export", fill_disk)
    with pytest.raises(Phi3nbError, match="Free space") as error:
        export_model(tiny_phi3_hf, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == [".out.lock"]  # no model, no partial folder
    from phi3nb.export import fit  # its figures are the measurements', with where they come from

    output = f"{fit.PHI3_MINI_EXPORT_OUTPUT_MB / 1000:.3g} GB"
    assert f"writes {output}" in str(error.value) and fit.SOURCE in str(error.value)


def test_stale_partial_export_is_cleared_and_redone(tiny_phi3_hf, tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr("phi3nb.export.convert.run_export", lambda s, t, *a: calls.append(t) or (t / "x").write_text("1"))
    stale = tmp_path / ".out.partial"
    stale.mkdir()
    (stale / "openvino_model.xml").write_text("half")
    out = export_model(tiny_phi3_hf, tmp_path / "out")
    assert "unfinished export" in capsys.readouterr().out
    assert calls and not stale.exists() and (out / "x").exists() and (out / MANIFEST).exists()


def test_other_flags_re_export_instead_of_reusing(tiny_phi3_hf, tmp_path, monkeypatch):
    monkeypatch.setattr("phi3nb.export.convert.run_export", lambda s, t, flags, *a: (t / "f").write_text(str(flags)))
    out = export_model(tiny_phi3_hf, tmp_path / "out")
    export_model(tiny_phi3_hf, out, weight_format="int8")
    assert json.loads((out / MANIFEST).read_text())["flags"]["weight_format"] == "int8"
    assert "int8" in (out / "f").read_text()


def test_a_folder_phi3nb_did_not_write_is_not_overwritten(tiny_phi3_hf, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(Phi3nbError, match="not empty"):
        export_model(tiny_phi3_hf, out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_compress_model_compresses_an_fp16_export_once(tiny_phi3_hf, tmp_path, capsys):
    """The bench's two stages: convert once to fp16, then compress; the second call reuses the folder."""
    from phi3nb.bench.ov_export import compress_model
    from phi3nb.export.convert import export_done
    from phi3nb.export.folder.swap import read_manifest
    from phi3nb.export.folder.model_dir import check_model_dir

    fp16 = export_model(tiny_phi3_hf, tmp_path / "fp16", weight_format="fp16", trust_remote_code=False)
    flags = {"weight_format": "int4", "group_size": 128, "ratio": 1.0, "sym": True}
    out = compress_model(fp16, tmp_path / "int4", **flags)
    check_model_dir(out)  # model, tokenizers and configs all there
    assert (out / "openvino_tokenizer.xml").exists() and (out / "generation_config.json").exists()
    assert read_manifest(out)["source"] == str(fp16) and read_manifest(out)["flags"] == flags
    assert (out / "openvino_model.bin").stat().st_size < 0.5 * (fp16 / "openvino_model.bin").stat().st_size
    assert export_done(out, fp16, flags) and not export_done(out, fp16, {**flags, "ratio": 0.6})
    capsys.readouterr()
    assert compress_model(fp16, out, **flags) == out
    assert "reusing" in capsys.readouterr().out
    with pytest.raises(Phi3nbError, match="ratio"):
        compress_model(fp16, tmp_path / "bad", weight_format="int4", ratio=2)
