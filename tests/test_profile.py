"""`phi3nb profile`: OpenVINO's per-node counters on a real decode, and the compute/memory verdict."""

import pytest

import phi3nb.speed.profile as profile


def test_profile_names_the_matrix_products_and_their_kernel(tiny_phi3_ov, capsys):
    result = profile.profile(tiny_phi3_ov, steps=4)
    top = result["all_threads"]["nodes"]
    assert abs(sum(n["share"] for n in top) - 1) < 1e-6
    assert any(n["type"].startswith("FullyConnected") for n in top)
    assert all(n["kernel"] for n in top)  # the exec type, e.g. brgemm_avx512_f32
    assert profile.matmul_ms(result["all_threads"]) > 0
    assert int(result["one_thread"]["threads"]) == 1
    expected = profile.verdict(result["one_thread"], result["all_threads"])  # from the two runs it printed
    assert result["bound"] == expected["bound"] and result["speedup"] == pytest.approx(expected["speedup"])
    out = capsys.readouterr().out
    assert " ".join(result["cpu"]["flags"]) in out and "FullyConnected" in out
    assert f"{result['speedup']:.2f}x faster with {result['all_threads']['threads']} threads" in out
    assert f"{result['bound']}-bound here" in out


def _fake(ms, threads):
    return {"threads": threads, "ms_per_token": ms,
            "nodes": [{"type": "FullyConnectedCompressed", "kernel": "k", "ms_per_token": ms, "share": 1.0},
                      {"type": "Add", "kernel": "k", "ms_per_token": 5.0, "share": 0.0}]}


@pytest.mark.parametrize("one, two, bound", [(20.0, 10.5, "compute"), (20.0, 15.0, "memory- or overhead")])
def test_verdict_from_thread_scaling(one, two, bound):
    v = profile.verdict(_fake(one, 1), _fake(two, 2))
    assert v["bound"] == bound and v["speedup"] == pytest.approx(one / two)


def test_bad_config_item_says_how_to_write_it(tiny_phi3_ov):
    import argparse

    from phi3nb.errors import Phi3nbError

    args = profile.add_arguments(argparse.ArgumentParser()).parse_args([str(tiny_phi3_ov), "--config", "NOPE"])
    with pytest.raises(Phi3nbError, match="KEY=VALUE"):
        profile.run(args)


class _Info:
    class Status:
        EXECUTED, NOT_RUN = "executed", "not_run"

    def __init__(self, node_type, ms, status="executed"):
        import datetime

        self.node_type, self.exec_type, self.status = node_type, "k", status
        self.real_time = datetime.timedelta(milliseconds=ms)


def test_node_totals_turn_the_plugins_running_averages_into_totals():
    # the plugin reports each node's mean over all of the request's inferences: a 90 ms prompt, then
    # three 10 ms steps, reads 30 ms after the fourth inference; the steps alone took 30 ms.
    after_prompt = profile.node_totals([_Info("FullyConnected", 90.0)], runs=1)
    after_steps = profile.node_totals([_Info("FullyConnected", 30.0), _Info("Reshape", 5.0, "not_run")], runs=4)
    after_steps.subtract(after_prompt)
    assert dict(after_steps) == {("FullyConnected", "k"): pytest.approx(30.0)}


def test_the_nodes_time_fits_in_the_wall_time():
    # the counters cover the plugin's work only, so per token they cannot exceed the wall clock. On the
    # embedded model (the plugin's work is most of the wall time), after a prompt costlier than a step.
    import phi3nb

    result = profile.decode_profile(phi3nb.prepare_embedded_model(), steps=4, prompt_tokens=400)
    assert 0 < sum(n["ms_per_token"] for n in result["nodes"]) <= result["ms_per_token"] * 1.05


def test_without_vnni_the_profile_says_the_activation_group_does_nothing(tiny_phi3_ov, monkeypatch, capsys):
    from phi3nb.run import cpu

    monkeypatch.setattr(cpu, "cpu_info", lambda: {"model": "AVX2-only CPU", "flags": ["avx2"], "logical_cpus": 2})
    profile.profile(tiny_phi3_ov, steps=2)
    assert "no VNNI on this CPU" in capsys.readouterr().out
    monkeypatch.setattr(cpu, "cpu_info", lambda: {"model": "VNNI CPU", "flags": ["avx2", "avx_vnni"], "logical_cpus": 2})
    profile.profile(tiny_phi3_ov, steps=2)
    assert "no VNNI" not in capsys.readouterr().out


def test_the_load_profile_times_each_stage_with_the_cores_it_kept_busy(tiny_phi3_ov, capsys):
    """`phi3nb profile --load`: read, compile, the first prompt and decode row, the prompt again; each stage's
    CPU time against its wall time, and the first prompt's one-off work as its wall time less its repeat's."""
    import argparse

    args = profile.add_arguments(argparse.ArgumentParser()).parse_args([str(tiny_phi3_ov), "--load"])
    found = profile.run(args)
    stages = {s["stage"]: s for s in found["stages"]}
    assert list(stages) == ["read the model", "compile", "first 16-row prompt", "first decode row",
                            "the same 16-row prompt again"]
    assert all(s["wall_s"] > 0 and s["busy_cores"] == pytest.approx(s["cpu_s"] / s["wall_s"]) for s in stages.values())
    assert found["one_off_s"] == pytest.approx(stages["first 16-row prompt"]["wall_s"]
                                               - stages["the same 16-row prompt again"]["wall_s"])
    out = capsys.readouterr().out
    assert f"{found['threads']} threads" in out and f"{found['one_off_s']:.2f} s" in out
