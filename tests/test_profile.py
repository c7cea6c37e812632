"""`phi3nb profile`: OpenVINO's per-node counters on a real decode, and the compute/memory verdict."""

import pytest

from phi3nb.bench import profile


def test_profile_names_the_matrix_products_and_their_kernel(tiny_phi3_ov, capsys):
    result = profile.profile(tiny_phi3_ov, steps=4)
    top = result["all_threads"]["nodes"]
    assert abs(sum(n["share"] for n in top) - 1) < 1e-6
    assert any(n["type"].startswith("FullyConnected") for n in top)
    assert all(n["kernel"] for n in top)  # the exec type, e.g. brgemm_avx512_f32
    assert profile.matmul_ms(result["all_threads"]) > 0
    assert result["bound"] in ("compute", "memory- or overhead") or result["bound"].startswith("unknown")
    out = capsys.readouterr().out
    assert " ".join(result["cpu"]["flags"]) in out and "FullyConnected" in out and "-bound here" in out


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
