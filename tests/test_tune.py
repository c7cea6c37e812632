"""phi3nb tune's racing and time budget, with scripted times and a fake clock (no model is loaded).

The real-model run of tune is in test_bench.py (test_bench_json_has_every_field).
"""

import json

import pytest

import phi3nb.speed.tune as tune
from phi3nb.run.cpu_config import TUNED_FILE, fast_cpu_config

# Candidates whose properties no_ops never skips, so the same ones run on every CPU.
CANDIDATES = {"default": {}, "close": {"KV_CACHE_PRECISION": "f16"}, "far": {"NUM_STREAMS": "2"},
              "drifting": {"INFERENCE_NUM_THREADS": 1}}
# ms per token of each candidate's runs, in order. The default's best is 100, then 98; its median 99.
TPOT = {"default": [100.0, 98.0, 99.0],
        "close": [99.0, 95.0, 94.0],  # within RACE_MARGIN throughout; median 97 after 2 rounds, 95 after 3
        "far": [109.0],  # 9 % behind after round 1: dropped
        "drifting": [106.0, 107.0]}  # 6 % behind after round 1 (kept), 106 vs 98 after round 2: dropped


@pytest.fixture
def folder(tmp_path):
    """A complete-looking export whose XML records int4 group-128 weights (only its tail is read)."""
    rt = ('<rt_info><nncf><weight_compression><group_size value="128" /><mode value="int4_sym" />'
          '</weight_compression></nncf></rt_info></net>')
    (tmp_path / "openvino_model.xml").write_text("<net>" + rt)
    (tmp_path / "openvino_model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    return tmp_path


class Scripted:
    """tune._time_one replaced: each call is one run of the candidate its config belongs to, taking
    `seconds[name]` on a fake clock and returning that run's TPOT from TPOT."""

    def __init__(self, folder, seconds):
        base = fast_cpu_config(folder)
        self.names = {json.dumps(tune.config_of(c, base), sort_keys=True): n for n, c in CANDIDATES.items()}
        self.seconds, self.now, self.calls = seconds, 0.0, []

    def clock(self):
        return self.now

    def __call__(self, model_dir, config, new_tokens):
        name = self.names[json.dumps(config, sort_keys=True)]
        self.now += self.seconds[name]
        self.calls.append(name)
        return 500.0, TPOT[name][self.calls.count(name) - 1]


def rounds_of(calls, sizes):
    out, i = [], 0
    for n in sizes:
        out.append(calls[i:i + n])
        i += n
    assert i == len(calls), calls
    return out


def test_a_candidate_clearly_behind_the_default_is_not_run_again(folder, monkeypatch):
    script = Scripted(folder, dict.fromkeys(CANDIDATES, 10.0))
    monkeypatch.setattr(tune, "_time_one", script)
    lines = []
    result = tune.tune(folder, rounds=3, candidates=CANDIDATES, budget=0, log=lines.append, clock=script.clock)

    assert rounds_of(script.calls, (4, 3, 2)) == [["default", "close", "far", "drifting"],
                                                   ["close", "drifting", "default"],  # rotated, far gone
                                                   ["default", "close"]]  # rotated again, drifting gone
    assert result["dropped_after_round"] == {"far": 1, "drifting": 2}
    assert any("dropping far after round 1: best 109.00 ms/token, 9% slower than the default's 100.00" in line
               for line in lines), lines
    assert any("dropping drifting after round 2: best 106.00" in line for line in lines), lines
    assert result["times"]["far"]["tpot_ms"] == [109.0] and result["rounds_run"] == 3
    assert result["winner"] == "close" and result["ov_config"]["KV_CACHE_PRECISION"] == "f16"
    assert json.loads((folder / TUNED_FILE).read_text())["winner"] == "close"


def test_one_lucky_run_does_not_win(folder, monkeypatch):
    """The medians decide: a candidate with one run 10 % faster and two 4 % slower than the default's loses
    (under a best-of rule it would have won)."""
    monkeypatch.setitem(TPOT, "default", [100.0, 99.0, 101.0])
    monkeypatch.setitem(TPOT, "close", [90.0, 105.0, 104.0])
    script = Scripted(folder, dict.fromkeys(CANDIDATES, 10.0))
    monkeypatch.setattr(tune, "_time_one", script)
    pair = {name: CANDIDATES[name] for name in ("default", "close")}
    result = tune.tune(folder, rounds=3, candidates=pair, budget=0, log=lambda line: None, clock=script.clock)
    assert result["winner"] == "default" and result["median_tpot_ms"] == {"default": 100.0, "close": 104.0}
    assert result["best_tpot_ms"]["close"] == 90.0


def test_no_round_starts_that_would_end_past_the_budget(folder, monkeypatch):
    # Round 1 takes 170 s. Round 2 without far: 30 + 50 + 40 = 120 s, ending at 290 <= 300, so it runs;
    # round 3 without drifting: 80 s more, ending at 370 > 300, so tune stops after two rounds.
    script = Scripted(folder, {"default": 30.0, "close": 50.0, "far": 50.0, "drifting": 40.0})
    monkeypatch.setattr(tune, "_time_one", script)
    lines = []
    result = tune.tune(folder, rounds=3, candidates=CANDIDATES, budget=300, log=lines.append, clock=script.clock)

    assert result["dropped_after_round"] == {"far": 1, "drifting": 2}
    assert rounds_of(script.calls, (4, 3)) == [["default", "close", "far", "drifting"],
                                                ["close", "drifting", "default"]]
    assert any("stopping after 2 of 3 rounds: round 3 would take about 80 s more, past the budget of 300 s "
               "(290 s so far" in line for line in lines), lines
    saved = json.loads((folder / TUNED_FILE).read_text())
    assert saved["rounds_run"] == 2 and saved["rounds"] == 3 and saved["elapsed_s"] == 290
    assert saved["winner"] == "default"  # close's median so far, 97, is not 3 % better than the default's 99


def test_the_first_round_runs_whatever_the_budget(folder, monkeypatch):
    script = Scripted(folder, dict.fromkeys(CANDIDATES, 100.0))
    monkeypatch.setattr(tune, "_time_one", script)
    result = tune.tune(folder, rounds=3, candidates=CANDIDATES, budget=1, log=lambda line: None, clock=script.clock)
    assert script.calls == ["default", "close", "far", "drifting"] and result["rounds_run"] == 1
    assert result["winner"] == "default"  # close's 99 is not 3 % better than 100


def test_phi3nb_tune_takes_a_budget(folder, monkeypatch):
    from phi3nb.cli import main

    script = Scripted(folder, dict.fromkeys(CANDIDATES, 10.0))
    monkeypatch.setattr(tune, "_time_one", script)
    monkeypatch.setattr(tune, "CANDIDATES", CANDIDATES)
    assert main(["tune", str(folder), "--budget", "0"]) == 0  # no limit: the racing alone decides
    saved = json.loads((folder / TUNED_FILE).read_text())
    assert saved["budget_s"] == 0 and saved["rounds_run"] == 3 and saved["winner"] == "close"


def test_tune_skips_what_changes_nothing_on_this_cpu():
    from phi3nb.speed.tune import CANDIDATES, no_ops

    avx2_only = no_ops(CANDIDATES, cpu={"flags": ["avx2"]}, capabilities=["FP32", "INT8"])
    assert sorted(n for names in avx2_only.values() for n in names) == ["bf16-default", "dq-128", "dq-256", "dq-32",
                                                                        "dq-off", "openvino-own"]
    assert any("no VNNI" in reason for reason in avx2_only)
    amx = no_ops(CANDIDATES, cpu={"flags": ["avx2", "avx512_vnni", "amx_bf16"]}, capabilities=["BF16", "FP32"])
    assert amx == {}
    unknown = no_ops(CANDIDATES, cpu={"flags": []}, capabilities=["FP32"])  # not Linux: only what OpenVINO says
    assert [n for names in unknown.values() for n in names] == ["bf16-default"]


def test_tune_points_an_int8_export_on_a_cpu_without_vnni_to_int4():
    import phi3nb
    from phi3nb.run.faster_export import export_advice
    from phi3nb.export.folder.model_dir import weight_compression

    int8 = weight_compression(phi3nb.prepare_embedded_model("int8"))
    assert int8 == ("int8_sym", -1)
    assert "--preset fast" in export_advice({"flags": ["avx2"]}, int8)
    assert export_advice({"flags": ["avx2", "avx512_vnni"]}, int8) is None  # the int8 path exists there
    assert export_advice({"flags": ["avx2"]}, ("int4_sym", 128)) is None
    assert export_advice({"flags": ["avx2"]}, None) is None  # an fp16 export records no compression


def test_tune_points_an_export_with_int8_layers_to_an_all_int4_one(tiny_phi3_ov):
    """The cookbook's --ratio 0.6 leaves 40 % of the layers int8: slower on every CPU measured."""
    from phi3nb.export.folder.model_dir import int4_ratio, weight_compression
    from phi3nb.run.faster_export import export_advice

    mixed = weight_compression(tiny_phi3_ov)
    assert int4_ratio(tiny_phi3_ov) == 0.6
    for cpu in ({"flags": ["avx2"]}, {"flags": ["avx2", "avx512_vnni"]}):
        advice = export_advice(cpu, mixed, int4_ratio(tiny_phi3_ov))
        assert "60% of this export's layers are int4" in advice and "--preset fast" in advice
    assert export_advice({"flags": ["avx2"]}, mixed, 1.0) is None
    assert int4_ratio(tiny_phi3_ov.parent) is None  # no IR there: nothing recorded


def test_the_export_advice_quotes_the_committed_full_size_runs(edited_measurement):
    """The speed-up the advice quotes is each full-size run's, with its CPU and day (only the run of this CPU's
    class where there is one): change a run, the words follow."""
    import phi3nb.measurements as measurements
    from phi3nb.run.faster_export import export_advice

    def halve_the_cookbook_exports_speed(run):
        fast = run["engines"]["genai-fast"]["decode_tok_s"]
        run["engines"]["genai-chat"]["decode_tok_s"] = {**fast, "median": fast["median"] / 2}

    unknown, avx2 = {"flags": []}, {"flags": ["avx2"], "flags_from": "torch"}
    advice = export_advice(unknown, ("int4_sym", 128), 0.6)
    for name in measurements.FULL_SIZE_RUNS:
        run = measurements.read(name)
        speedup = measurements.decode_speed(run, "genai-fast") / measurements.decode_speed(run, "genai-chat")
        assert f"{speedup:.2f}x on {measurements.machine(run['meta'])}" in advice
        if measurements.cpu_class(run["meta"]["cpu"]) == measurements.cpu_class(avx2):
            own = f"{speedup:.2f}x on this CPU's class, {measurements.machine(run['meta'])})"
    assert own in export_advice(avx2, ("int4_sym", 128), 0.6) and "x on " not in export_advice(avx2, (
        "int4_sym", 128), 0.6).replace(own, "")
    for name in measurements.FULL_SIZE_RUNS:
        edited_measurement(name, halve_the_cookbook_exports_speed)
    assert export_advice(unknown, ("int4_sym", 128), 0.6).count("2.00x on ") == 3


def test_the_loads_short_line_quotes_the_runs_and_the_published_figures(edited_measurement):
    """The load's line: this CPU class's speed-up where a run has it, else the range over the runs; NNCF's
    figures from the committed file (change it, the words follow); nothing where the format is not the slow part."""
    import phi3nb.measurements as measurements
    from phi3nb.run.faster_export import load_line

    ratios = sorted(measurements.decode_speed(r, "genai-fast") / measurements.decode_speed(r, "genai-chat")
                    for r in map(measurements.read, measurements.FULL_SIZE_RUNS))
    assert f"{ratios[0]:.2f}-{ratios[-1]:.2f}x as fast as this export's int4/int8 mix on the CPUs measured" in load_line(
        {"flags": []}, ("int4_sym", 128), 0.6)
    assert "on a CPU of this class (AMD EPYC, " in load_line({"flags": ["avx2"], "flags_from": "torch"},
                                                            ("int4_sym", 128), 0.6)
    assert "OpenVINO multiplies these int8 weights in f32" in load_line({"flags": ["avx2"], "flags_from": "torch"},
                                                                        ("int8_sym", -1))
    assert load_line({"flags": ["avx2"]}, ("int4_sym", 128), 1.0) is None
    edited_measurement(measurements.PUBLISHED_QUALITY, lambda run: run["lambada_openai"]["rows"][
        "int4_sym_r100_gs128_scale"].update(accuracy=0.5))
    assert "NNCF publishes 50.0% lambada accuracy for that format" in load_line({"flags": []}, ("int4_sym", 128), 0.6)
