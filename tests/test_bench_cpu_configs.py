"""`phi3nb bench --cpu-configs`: each config loaded once, side by side, their decode runs interleaved round by round,
on the embedded model (real pipelines; the candidates are ones that apply on every CPU)."""

import argparse
import collections
import json
import statistics

import pytest

from phi3nb.errors import Phi3nbError

CONFIGS = ("default", "kv-f16", "no-pinning")  # no_ops never skips these, on any CPU


def _run(*argv):
    from phi3nb.bench import cli

    return cli.run(cli.add_arguments(argparse.ArgumentParser()).parse_args(["--cpu-configs", *argv]))


def test_each_config_runs_with_its_own_settings_every_round(embedded_dir, tmp_path, monkeypatch, capsys):
    import phi3nb.run.genai as genai
    from phi3nb.run.cpu_config import fast_cpu_config

    real, built = genai.load_genai, []

    def spy(*args, **kwargs):  # the real load, noting what each pipeline was built with
        model = real(*args, **kwargs)
        built.append(model.ov_config)
        return model

    monkeypatch.setattr(genai, "load_genai", spy)
    out = tmp_path / "configs.json"
    result = _run("--model-dir", str(embedded_dir), "--configs", ",".join(CONFIGS), "--runs", "2",
                  "--new-tokens", "4", "--label", "SmolLM2-135M, int8", "--json", str(out))
    assert json.loads(out.read_text()) == result
    meta = result["meta"]
    assert list(meta["ov_config"]) == list(CONFIGS) and meta["ov_config"]["default"] == fast_cpu_config(embedded_dir)
    assert [{k: v for k, v in c.items() if k != "CACHE_DIR"} for c in meta["ov_config"].values()] == [
        {k: v for k, v in c.items() if k != "CACHE_DIR"} for c in built]  # one pipeline per config, as named
    assert built[1]["KV_CACHE_PRECISION"] == "f16" and built[2]["ENABLE_CPU_PINNING"] is False
    for name in CONFIGS:
        runs = result["runs"][name]
        assert [r["round"] for r in runs] == [1, 2] and all(r["tokens"] == 4 for r in runs)
        assert result["median_tpot_ms"][name] == statistics.median(r["tpot_ms"] for r in runs)
    assert set(result["ratios"]) == {"kv-f16 / default", "no-pinning / default"}
    rounds = [line.split()[3] for line in capsys.readouterr().out.splitlines() if line.startswith("[bench] round ")]
    assert rounds == ["default", "kv-f16", "no-pinning", "kv-f16", "no-pinning", "default"]  # each first in turn
    assert meta["export_short"] == "SmolLM2-135M, int8" and meta["weights"] == ["int8_sym", -1]


def test_a_bad_request_says_what_to_do_before_loading_anything(embedded_dir, monkeypatch):
    import psutil

    from phi3nb.bench.cpu_configs import plan
    from phi3nb.run.cpu import cpu_info

    cpu = cpu_info()
    with pytest.raises(Phi3nbError, match="unknown: dq-64"):
        plan(embedded_dir, ["default", "dq-64"], cpu)
    with pytest.raises(Phi3nbError, match="takes 'default'"):
        plan(embedded_dir, ["kv-f16", "no-pinning"], cpu)
    logged = []  # the int8 export's default already quantizes activations per 128 inputs
    with pytest.raises(Phi3nbError, match="Nothing to compare the default with"):
        plan(embedded_dir, ["default", "dq-128"], cpu, logged.append)
    assert logged == ["[bench] skipping dq-128: the same as the default for this model"]
    monkeypatch.setattr(psutil, "virtual_memory", lambda: collections.namedtuple("Memory", "available")(10 ** 6))
    with pytest.raises(Phi3nbError, match="3 copies of this model need about .* GB and 0.0 GB is free: pass fewer"):
        plan(embedded_dir, list(CONFIGS), cpu)
    with pytest.raises(Phi3nbError, match="pass --model-dir FOLDER"):
        _run("--runs", "1")
