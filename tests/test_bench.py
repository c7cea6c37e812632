"""`phi3nb bench` end to end on a tiny random Phi-3, in well under a minute (speeds are not asserted)."""

import argparse
import datetime
import json
import math
import sys
from pathlib import Path

import pytest

TINY = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=4)
FIELDS = ("load_s", "ttft_ms", "tpot_ms", "decode_tok_s", "peak_rss_mb")


@pytest.fixture(scope="module")
def tiny_bench_model(tmp_path_factory):
    """(OpenVINO int4 folder, GGUF or None) of one tiny random Phi-3 with a BPE tokenizer llama.cpp accepts."""
    from phi3nb.bench.backend_llamacpp import unavailable_reason
    from phi3nb.bench.ov_export import compress, export_fp16
    from phi3nb.standins.phi3_random import build_slices
    from phi3nb.bench.presets import FAST_PRESET

    root = tmp_path_factory.mktemp("bench")
    hf = build_slices(root, layers=(2,), sizes=TINY)[2]
    ov = compress(export_fp16(hf, root / "fp16"), root / "int4", FAST_PRESET)
    # The test extra installs llama-cpp-python: without it these tests would check only the "missing" path.
    assert unavailable_reason() is None, unavailable_reason()
    from phi3nb.bench.gguf_writer import write_phi3_gguf

    return ov, write_phi3_gguf(hf, root / "tiny-f16.gguf")


def _lscpu() -> dict:
    import shutil
    import subprocess

    if not shutil.which("lscpu"):
        pytest.skip("lscpu (util-linux) is not installed: nothing to check the CPU's name and flags against")
    lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True, env={"LC_ALL": "C"}).stdout
    return {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in lines.splitlines())}


def _positive(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_bench_json_has_every_field(tiny_bench_model, tmp_path):
    from phi3nb.bench import add_arguments, run

    from phi3nb.speed.tune import CANDIDATES, tune

    ov, gguf = tiny_bench_model
    from phi3nb.run.cpu_config import fast_cpu_config

    same = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": fast_cpu_config(ov)["DYNAMIC_QUANTIZATION_GROUP_SIZE"]}
    tuned = tune(ov, rounds=1, new_tokens=4, candidates={**{k: CANDIDATES[k] for k in ("default", "kv-f16")},
                                                         "same-as-default": same})
    assert tuned["best_tpot_ms"] == {name: min(t["tpot_ms"]) for name, t in tuned["times"].items()}
    # Which one wins on real timings is the machine's; the rule is test_tune_keeps_..._by_its_best_run's.
    assert tuned["winner"] in tuned["times"]
    assert tuned["ov_config"] == {**fast_cpu_config(ov), **CANDIDATES[tuned["winner"]]}
    assert json.loads((ov / "phi3nb_tuned.json").read_text())["ov_config"] == tuned["ov_config"]
    assert set(tuned["times"]) == {"default", "kv-f16"}  # the default's twin is not timed
    out = tmp_path / "out.json"
    argv = ["--model-dir", str(ov), "--skip-slice", "--skip-perplexity", "--runs", "1", "--new-tokens", "8", "--chat-tokens", "4",
            "--json", str(out), "--work-dir", str(tmp_path / "work"), "--gguf", str(gguf)]
    result = run(add_arguments(argparse.ArgumentParser()).parse_args(argv))

    data = json.loads(out.read_text())
    assert data["backends"].keys() == result["backends"].keys() == {"optimum", "genai", "genai-tuned", "llama.cpp"}
    for name, b in data["backends"].items():
        assert "error" not in b, (name, b)
        for field in FIELDS:
            assert _positive(b[field]), (name, field, b[field])
        assert len(b["ttft_by_turn_ms"]) == 5 and all(_positive(t) for t in b["ttft_by_turn_ms"]), b
        assert b["tpot_ms"] == pytest.approx(1000 / b["decode_tok_s"], rel=1e-6)
        assert data["prefill_ttft_ms"][name] == b["prefill_ttft_ms"]
        assert b["prefill_ttft_ms"].keys() == {"1000", "3000"} and all(map(_positive, b["prefill_ttft_ms"].values()))
        # the worker's own peak, sampled through its runs: the long prompts' peak comes later, so it is no lower
        assert b["peak_source"] == ("peak_wset" if sys.platform == "win32" else "sampled") and b["peak_sample_s"] > 0
        assert b["prefill_peak_rss_mb"] >= b["peak_rss_mb"] > 50, b
    roof = data["roofline"]
    assert all(_positive(roof[k]) for k in ("bandwidth_gb_s", "weight_bytes_per_token", "limit_tok_s"))
    assert roof["weight_bytes_per_token"] == (ov / "openvino_model.bin").stat().st_size
    assert "phi3_slice" not in data
    lscpu = _lscpu()  # another reader of the CPU than the bench's /proc/cpuinfo parser
    from phi3nb.run.cpu import CPU_FLAGS

    assert data["meta"]["cpu"]["flags"] == [f for f in CPU_FLAGS if f in lscpu["Flags"].split()]
    assert data["meta"]["cpu"]["model"] == lscpu["Model name"]
    pairs = {"genai / optimum"} | {f"{b} / llama.cpp" for b in ("optimum", "genai", "genai-tuned")}
    assert set(data["ratios"]) == pairs and all(r["decode"]["n"] == 1 for r in data["ratios"].values()), data["ratios"]


# Hand-made times per token (ms), one list per candidate, run by run; the winner each should give, by the rule
# tune documents: the median of each one's runs; a candidate replaces the default only if its median beats the
# default's by at least MARGIN (3 %); without a default among them, the lowest median wins.
KV, STREAMS = {"KV_CACHE_PRECISION": "f16"}, {"NUM_STREAMS": "2"}  # properties no_ops skips on no CPU
RULE_CASES = {
    "clearly faster: 96 vs 99.5, 3.5 % better": ({"default": [100.0, 99.0], "kv": [97.0, 95.0]}, "kv"),
    "faster, not clearly: 96.75 vs 99.5, 2.8 %": ({"default": [100.0, 99.0], "kv": [97.0, 96.5]}, "default"),
    "the medians count, not the best runs: 91.5 vs 95 (best 88 vs 90)": (
        {"default": [90.0, 100.0], "kv": [95.0, 88.0]}, "kv"),
    "the fastest of two clearly faster ones": ({"default": [100.0, 100.0], "kv": [96.0, 96.0],
                                               "streams": [91.0, 90.0]}, "streams"),
    "no default: the lowest median, by any amount": ({"kv": [50.0, 50.0], "streams": [49.9, 50.0]}, "streams"),
}


@pytest.mark.parametrize("case", RULE_CASES)
def test_tune_keeps_the_default_unless_another_is_clearly_faster_by_its_median(case, tmp_path, monkeypatch):
    import phi3nb.speed.tune as tune
    from phi3nb.run.cpu_config import TUNED_FILE, fast_cpu_config

    times, winner = RULE_CASES[case]
    candidates = {n: {"default": {}, "kv": KV, "streams": STREAMS}[n] for n in times}
    rt = ('<rt_info><nncf><weight_compression><group_size value="128" /><mode value="int4_sym" />'
          '</weight_compression></nncf></rt_info></net>')  # an int4 g128 export, as far as tune reads it
    (tmp_path / "openvino_model.xml").write_text("<net>" + rt)
    (tmp_path / "openvino_model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    base = fast_cpu_config(tmp_path)
    runs = {json.dumps({**base, **c}, sort_keys=True): iter(times[n]) for n, c in candidates.items()}
    monkeypatch.setattr(tune, "_time_one", lambda d, config, n: (500.0, next(runs[json.dumps(config, sort_keys=True)])))

    result = tune.tune(tmp_path, rounds=2, candidates=candidates, budget=0, log=lambda line: None)
    assert result["rounds_run"] == 2 and result["dropped_after_round"] == {}  # every run above was made
    assert result["winner"] == winner
    assert result["ov_config"] == {**base, **candidates[winner]}
    assert json.loads((tmp_path / TUNED_FILE).read_text())["winner"] == winner


def test_slice_figures_arithmetic():
    from phi3nb.bench.slice_bench import slice_figures

    tpot = {2: {"min": 10.0, "mean": 11.0}, 4: {"min": 14.0, "mean": 15.0}}
    fig = slice_figures(tpot, {2: 300e6, 4: 420e6})
    assert fig["ms_per_layer"] == 2.0 and fig["mb_per_layer"] == 60.0 and fig["gb_s"] == 30.0
    assert fig["extrapolated_tok_s"] == pytest.approx(1000 / (10 + 30 * 2))


def test_cli_flags_of_presets():
    from phi3nb.bench.presets import COOKBOOK_PRESET, cli_flags

    assert cli_flags(COOKBOOK_PRESET) == "--weight-format int4 --group-size 128 --ratio 0.6 --sym"


def test_an_unknown_backend_is_a_phi3nb_error(tmp_path):
    from phi3nb.bench import add_arguments, run
    from phi3nb.errors import Phi3nbError

    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--model-dir", str(tmp_path), "--backends", "genai,vllm", "--skip-slice", "--skip-perplexity"])
    with pytest.raises(Phi3nbError, match="vllm.*genai, llama.cpp|optimum, genai, llama.cpp"):
        run(args)


def test_a_slice_job_needs_no_tokenizer_folder(tiny_bench_model):
    """The slice's llama.cpp jobs have only a GGUF: no chat, no long prompts, so no model_dir to read."""
    from phi3nb.bench.runner import run_job

    ov, gguf = tiny_bench_model
    res = run_job({"kind": "llama.cpp", "gguf": str(gguf), "model_dir": None, "runs": 1, "new_tokens": 4,
                   "chat": False, "prefill": (), "prompt": "The quick brown fox"})
    assert "error" not in res and "prefill_ttft_ms" not in res, res


# Fake workers: what run_job returns, without loading any model. Round r of a backend is its r-th call.
def _fake_result(tpot, r):
    from phi3nb.bench.stats import aggregate

    if tpot is None:
        return {"error": f"fake failure in round {r}"}
    return aggregate({"load_s": [1.0 + r], "ttft_ms": [50.0 + r], "tpot_ms": [tpot], "decode_tok_s": [1000 / tpot],
                      "ttft_by_turn_ms": [[40.0 + r + t for t in range(5)]], "peak_rss_mb": [100.0 + 10 * r],
                      "prefill_ttft_ms": {"1000": [500.0 + r], "3000": [2000.0 + r]},
                      "prefill_peak_rss_mb": [300.0 + r], "new_tokens": 8})


# Per-round TPOT (ms) of each fake backend; None: that round fails.
TPOTS = {"optimum": [20.0, 30.0, 25.0], "genai": [10.0, 15.0, 20.0], "genai-tuned": [8.0, 8.0, 8.0],
         "llama.cpp": [10.0, None, 12.0]}


def _fake_bench(monkeypatch, tmp_path):
    """Every backend's name as run_job was called, in order, with the jobs it was sent; bandwidth and llama_cpp faked."""
    import phi3nb.bench.backend_llamacpp as backend_llamacpp
    import phi3nb.bench.roofline as roofline
    import phi3nb.bench.runner as runner
    from phi3nb.run.cpu_config import TUNED_FILE

    calls = []

    def fake_run_job(job, **kw):
        name = job["kind"] if job["kind"] != "genai" or job["ov_config"] is not None else "genai-tuned"
        calls.append((name, job))
        return _fake_result(TPOTS[name][sum(n == name for n, _ in calls) - 1], sum(n == name for n, _ in calls) - 1)

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    monkeypatch.setattr(roofline, "read_bandwidth_gb_s", lambda: 10.0)
    monkeypatch.setattr(backend_llamacpp, "unavailable_reason", lambda: None)
    model = tmp_path / "model"
    model.mkdir()
    (model / "openvino_model.bin").write_bytes(b"\0" * 1000)
    (model / "model.gguf").write_bytes(b"\0" * 800)
    (model / TUNED_FILE).write_text("{}")
    return model, calls


def test_backends_run_in_rounds_and_merge_as_one_result(monkeypatch, tmp_path, capsys):
    from phi3nb.bench import add_arguments, run
    from phi3nb.run.cpu import cpu_info

    model, calls = _fake_bench(monkeypatch, tmp_path)
    out = tmp_path / "out.json"
    run(add_arguments(argparse.ArgumentParser()).parse_args(
        ["--model-dir", str(model), "--skip-slice", "--skip-perplexity", "--runs", "3", "--json", str(out)]))
    data = json.loads(out.read_text())

    names = [n for n, _ in calls]
    assert all(job["runs"] == 1 for _, job in calls)
    rounds = [names[i:i + 4] for i in range(0, len(names), 4)]
    assert len(rounds) == 3 and all(sorted(r) == sorted(TPOTS) for r in rounds), names  # each once per round
    assert len({r[0] for r in rounds}) == 3, names  # no backend always first

    optimum = data["backends"]["optimum"]
    assert optimum["tpot_ms"] == 25.0 and optimum["spread"]["tpot_ms"]["min"] == 20.0
    assert optimum["spread"]["tpot_ms"]["max"] == 30.0 and optimum["spread"]["tpot_ms"]["n"] == 3
    assert optimum["load_s"] == 2.0 and optimum["ttft_by_turn_ms"] == [41.0, 42.0, 43.0, 44.0, 45.0]
    assert optimum["prefill_ttft_ms"] == {"1000": 501.0, "3000": 2001.0} == data["prefill_ttft_ms"]["optimum"]
    assert optimum["peak_rss_mb"] == 120.0 and optimum["prefill_peak_rss_mb"] == 302.0
    assert optimum["raw"]["round"] == [0, 1, 2] and optimum["rounds"] == 3
    assert optimum["roofline_fraction"] == pytest.approx(optimum["decode_tok_s"] / (10.0e9 / 1000))
    llama = data["backends"]["llama.cpp"]  # failed in round 1 only: the other two rounds count
    assert llama["tpot_ms"] == 11.0 and llama["spread"]["tpot_ms"]["n"] == 2 and llama["raw"]["round"] == [0, 2]
    assert llama["failed_rounds"] == [{"round": 1, "error": "fake failure in round 1"}]

    ratios = data["ratios"]
    assert set(ratios) == {"optimum / llama.cpp", "genai / llama.cpp", "genai-tuned / llama.cpp", "genai / optimum"}
    assert ratios["genai / optimum"]["decode"] == {"per_round": [2.0, 2.0, 1.25], "min": 1.25, "median": 2.0,
                                                   "max": 2.0, "n": 3}
    vs_llama = ratios["optimum / llama.cpp"]["decode"]
    assert vs_llama["per_round"] == [0.5, None, 0.48] and vs_llama["n"] == 2
    assert vs_llama["median"] == pytest.approx(0.49)

    assert data["meta"]["cpu"] == cpu_info(all_flags=True) and data["meta"]["rounds"] == 3
    assert data["meta"]["date"][:10] == datetime.date.today().isoformat()  # the day it ran
    report = capsys.readouterr().out
    assert f"CPU: {cpu_info()['model']}" in report
    lines = {line.split()[0] + " / " + line.split()[2]: line for line in report.splitlines() if " / " in line}
    assert "2.00 (1.25-2.00 over 3 rounds)" in lines["genai / optimum"]
    assert "0.49 (0.48-0.50 over 2 of 3 rounds)" in lines["optimum / llama.cpp"]


def test_speed_ratio_is_per_round_and_skips_missing_rounds():
    from phi3nb.bench.stats import speed_ratio

    r = speed_ratio([10.0, 20.0, None, 5.0, -1.0], [20.0, 20.0, 30.0, 20.0, 4.0])  # A's and B's times
    assert r["per_round"] == [2.0, 1.0, None, 4.0, None]  # > 1: A faster; no A, or a time <= 0: None
    assert (r["min"], r["median"], r["max"], r["n"]) == (1.0, 2.0, 4.0, 3)
    assert speed_ratio([None], [1.0]) == {"per_round": [None], "min": None, "median": None, "max": None, "n": 0}


def test_slice_runs_engines_and_depths_in_rounds(monkeypatch, tmp_path):
    import phi3nb.bench.runner as runner
    from phi3nb.bench import slice_bench

    models, tpots = {}, {}  # tpots[path]: per-round TPOT; ms/layer is (TPOT(4) - TPOT(2)) / 2
    for key, two, four in (("openvino-cookbook", [None] * 2, [None] * 2),  # fails from the start
                           ("openvino-fast", [10.0, 12.0], [16.0, 16.0]),  # ms/layer 3, 2
                           ("llama.cpp-Q4_K_M", [10.0, 10.0], [22.0, 18.0])):  # ms/layer 6, 4
        models[key] = {}
        for n, t in ((2, two), (4, four)):
            models[key][n] = path = tmp_path / f"{key}-{n}"  # a folder, or a GGUF file for llama.cpp
            if key.startswith("openvino"):
                path.mkdir()
                path = path / "openvino_model.bin"
            path.write_bytes(b"\0" * (100 * n))
            tpots[str(models[key][n])] = t
    calls = []

    def fake_run_job(job, **kw):
        path = job.get("gguf") or job["model_dir"]
        calls.append(path)
        return _fake_result(tpots[path][calls.count(path) - 1], calls.count(path) - 1)

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    out = slice_bench.measure(models, {"openvino-fast": {"INFERENCE_PRECISION_HINT": "f32"}}, runs=2, log=lambda m: None)

    cookbook = [str(models["openvino-cookbook"][n]) for n in (2, 4)]
    assert [calls.count(p) for p in cookbook] == [1, 1], calls  # failed in round 0: not run again
    assert "fake failure" in out["openvino-cookbook"]["error"]
    first, second = calls[:6], calls[6:]  # round 0: all six; round 1: the four still running, rotated
    assert sorted(first) == sorted(tpots) and sorted(second) == sorted(set(tpots) - set(cookbook)), calls
    assert Path(first[0]).name.rsplit("-", 1)[0] != Path(second[0]).name.rsplit("-", 1)[0], calls
    assert out["openvino-fast"]["ms_per_layer_per_round"] == [3.0, 2.0]
    assert out["openvino-fast"]["ms_per_layer"] == 3.0  # the table's figure: each depth's best TPOT, (16 - 10) / 2
    assert out["llama.cpp-Q4_K_M"]["ms_per_layer_per_round"] == [6.0, 4.0]
    ratios = slice_bench.slice_ratios(out)
    assert ratios == {"slice openvino-fast / llama.cpp-Q4_K_M": {"per_layer": {
        "per_round": [2.0, 2.0], "min": 2.0, "median": 2.0, "max": 2.0, "n": 2}}}


@pytest.mark.parametrize("flags, warned", [(["avx2"], True), (["avx2", "avx512f", "avx512_vnni"], False)])
def test_the_report_says_what_to_expect_without_vnni(flags, warned):
    from phi3nb.bench.report import format_report

    report = format_report({"meta": {"cpu": {"model": "Some CPU", "flags": flags}}, "backends": {}})
    assert ("No VNNI on this CPU" in report) is warned
