"""load_genai's CPU default fits the activations' quantization group to the export's int4 group."""

import json

import pytest

from phi3nb.run.cpu_config import FAST_CPU_CONFIG
from phi3nb.run.cpu_config import fast_cpu_config
from phi3nb.export.folder.model_dir import int4_group_size, int4_ratio, weight_compression

DQ = "DYNAMIC_QUANTIZATION_GROUP_SIZE"


def _ir(tmp_path, mode, group):
    """A folder whose XML ends like nncf's rt_info does (only the tail is read)."""
    rt = (f'<rt_info><nncf><weight_compression><group_size value="{group}" />'
          f'<mode value="{mode}" /><ratio value="1.0" /></weight_compression></nncf></rt_info></net>')
    (tmp_path / "openvino_model.xml").write_text("<net>" + " " * 100_000 + rt)
    return tmp_path


XEON_AMX = {"flags": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"], "flags_from": "torch"}


@pytest.mark.parametrize("mode, group, expected", [
    ("int4_sym", 64, 64), ("int4_asym", 32, 32), ("int4_sym", 128, 128), ("int4_sym", -1, 128),
    ("int8_sym", -1, 128), ("int4_sym", 256, 128)])
def test_group_never_larger_than_the_weights(tmp_path, mode, group, expected):
    assert fast_cpu_config(_ir(tmp_path, mode, group), cpu=XEON_AMX)[DQ] == expected
    assert FAST_CPU_CONFIG[DQ] == 128  # the base is not changed


@pytest.mark.parametrize("mode, group, zen4, amx", [
    ("int4_sym", -1, 256, 128), ("int4_asym", -1, 256, 128), ("int4_sym", 128, 32, 128), ("int4_sym", 64, 64, 64),
    ("int8_sym", -1, 128, 128)])
def test_a_cpu_class_takes_the_group_measured_fastest_there_for_its_weights(tmp_path, mode, group, zen4, amx):
    """Where an activation group was alternated at full size on a CPU class and won (AVX-512 VNNI/BF16, no AMX:
    256 for int4 per channel, the plugin's 32 for group-128 int4), it is the default there; weights nobody
    alternated (group 64, int8) and classes nobody alternated on keep 128, cut to the weights' group."""
    folder = _ir(tmp_path, mode, group)
    assert fast_cpu_config(folder, cpu=ZEN4)[DQ] == zen4
    assert fast_cpu_config(folder, cpu=XEON_AMX)[DQ] == amx
    assert DQ not in fast_cpu_config(folder, {"PERFORMANCE_HINT": "LATENCY"}, cpu=ZEN4)  # a base without one


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


ZEN4 = {"flags": ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], "ov_capabilities": ["BF16", "FP32", "INT8"],
        "flags_from": "torch"}


def _medians(edit, **medians):
    """The committed config alternations with their medians replaced."""
    from phi3nb.measurements import CPU_CONFIG_RUNS

    for name in CPU_CONFIG_RUNS:
        edit(name, lambda run: run.update(median_tpot_ms=medians))


def test_the_load_line_quotes_what_was_measured_on_this_cpus_class(edited_measurement):
    """The words follow the committed alternation: change its medians and they change; a CPU of a class nobody
    measured is told so, and a CPU without bf16 or VNNI that the hints change nothing."""
    from phi3nb.measurements import CPU_CONFIG_RUNS, cpu_name, date, read
    from phi3nb.run.cpu_config import why_default

    run = read(CPU_CONFIG_RUNS[0])
    medians = run["median_tpot_ms"]
    behind = medians["default"] / min(medians.values()) - 1
    said = why_default(FAST_CPU_CONFIG, ZEN4)
    assert said.startswith("CPU config: phi3nb's default (f32 math, int8 activations per 128 inputs): ")
    assert f"within {behind:.0%} of the fastest of {len(medians)} configs on a CPU of this class" in said
    assert f"({cpu_name(run['meta']['cpu'])}, {date(run['meta'])}; Phi-3-mini, the cookbook's export)" in said
    assert "; Phi-3-mini, int4 per channel)" in why_default(FAST_CPU_CONFIG, ZEN4, ("int4_sym", -1))
    # the same int4 format, told apart by the share of int4 layers: the cookbook's 60 % and the fast preset's all
    assert "; Phi-3-mini, the cookbook's export)" in why_default(FAST_CPU_CONFIG, ZEN4, ("int4_sym", 128), 0.6)
    assert "; Phi-3-mini, the fast preset (all int4))" in why_default(FAST_CPU_CONFIG, ZEN4, ("int4_sym", 128), 1.0)
    _medians(edited_measurement, default=100.0, other=120.0)
    assert "the fastest of 2 configs" in why_default(FAST_CPU_CONFIG, ZEN4)
    _medians(edited_measurement, default=120.0, **{"dq-128": 100.0})
    said = why_default(FAST_CPU_CONFIG, ZEN4, tuple(run["meta"]["weights"]))
    assert "20% slower a token than the fastest of 2 configs" in said
    assert said.endswith("; the fastest: load_genai's default with activation group 128. `phi3nb tune "
                         "MODEL_DIR` measures them on yours.")
    amx = {**ZEN4, "flags": ZEN4["flags"] + ["amx_tile"]}
    assert "not yet measured against the alternatives on a CPU of this class (AVX-512 VNNI/BF16 + AMX)" in why_default(
        FAST_CPU_CONFIG, amx)
    avx2 = {"flags": ["avx2"], "ov_capabilities": ["FP32", "INT8"], "flags_from": "torch"}
    assert "neither bf16 nor VNNI, so phi3nb's f32 hint and activation group change nothing" in why_default(
        FAST_CPU_CONFIG, avx2)
    laptop = {"flags": ["avx2", "avx_vnni"], "ov_capabilities": ["FP32", "INT8"], "flags_from": "torch"}
    assert why_default(FAST_CPU_CONFIG, laptop).startswith("CPU config: phi3nb's default (int8 activations per 128")


def test_loading_a_phi3_export_names_its_config_and_a_faster_export_with_its_published_cost(
        tiny_phi3_ov, embedded_dir, capsys):
    """The load's lines: which CPU config and why (this CPU's class), and for the cookbook's int4/int8 mix the
    all-int4 export with its measured speed-up and NNCF's published accuracy; not for a model that is no Phi-3,
    whose quality nobody published; an ov_config of the caller's is not explained."""
    from phi3nb.measurements import PUBLISHED_QUALITY, read
    from phi3nb.run.cpu import cpu_info
    from phi3nb.run.cpu_config import why_default
    from phi3nb.run.genai import load_genai

    published = read(PUBLISHED_QUALITY)
    load_genai(tiny_phi3_ov, device="CPU")
    out = capsys.readouterr().out
    said = why_default(fast_cpu_config(tiny_phi3_ov), cpu_info(), weight_compression(tiny_phi3_ov),
                       int4_ratio(tiny_phi3_ov))
    assert f"[phi3nb] {said}\n" in out
    faster = next(line for line in out.splitlines() if line.startswith("[phi3nb] Faster export: all-int4, "))
    accuracy = published["lambada_openai"]["rows"]["int4_sym_r100_gs128_scale"]["accuracy"]
    assert "--preset fast-se" in faster and f"{accuracy:.1%} lambada accuracy" in faster
    assert faster.endswith("(docs/how-fast.md, Answer quality).") and len(faster) < 400  # short enough for the box
    load_genai(tiny_phi3_ov, device="CPU", ov_config={"PERFORMANCE_HINT": "LATENCY"})
    out = capsys.readouterr().out
    assert "CPU config:" not in out and "Faster export" in out
    load_genai(embedded_dir, device="CPU")
    out = capsys.readouterr().out
    assert "CPU config:" in out and "Faster export" not in out


@pytest.mark.parametrize("name", __import__("phi3nb.measurements", fromlist=["x"]).CPU_CONFIG_RUNS)
def test_each_committed_alternation_measured_todays_default_for_its_weights(tmp_path, name):
    """What the load line quotes as the default's place was measured with the config load_genai uses today for
    an export of those weights: change the default, and the alternation must be run again."""
    from phi3nb.measurements import read

    meta = read(name)["meta"]
    mode, group = meta["weights"]
    assert fast_cpu_config(_ir(tmp_path, mode, group), cpu=meta["cpu"]) == meta["ov_config"][meta["default"]]
    assert set(meta["ov_config"]) == set(read(name)["median_tpot_ms"]) == set(meta["configs"])
