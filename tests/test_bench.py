"""`phi3nb bench` end to end on a tiny random Phi-3, in well under a minute (speeds are not asserted)."""

import argparse
import json
import math

import pytest

TINY = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=4)
FIELDS = ("load_s", "ttft_ms", "tpot_ms", "decode_tok_s", "peak_rss_mb")


@pytest.fixture(scope="module")
def tiny_bench_model(tmp_path_factory):
    """(OpenVINO int4 folder, GGUF or None) of one tiny random Phi-3 with a BPE tokenizer llama.cpp accepts."""
    from phi3nb.bench.backend_llamacpp import unavailable_reason
    from phi3nb.bench.ov_export import compress, export_fp16
    from phi3nb.bench.phi3_slice import build_slices
    from phi3nb.bench.presets import FAST_PRESET

    root = tmp_path_factory.mktemp("bench")
    hf = build_slices(root, layers=(2,), sizes=TINY)[2]
    ov = compress(export_fp16(hf, root / "fp16"), root / "int4", FAST_PRESET)
    gguf = None
    if unavailable_reason() is None:
        from phi3nb.bench.gguf_writer import write_phi3_gguf

        gguf = write_phi3_gguf(hf, root / "tiny-f16.gguf")
    return ov, gguf


def _positive(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_bench_json_has_every_field(tiny_bench_model, tmp_path):
    from phi3nb.bench import add_arguments, run

    from phi3nb.bench.tune import CANDIDATES, tune

    ov, gguf = tiny_bench_model
    tuned = tune(ov, rounds=1, new_tokens=4, candidates={k: CANDIDATES[k] for k in ("default", "kv-u8")})
    assert tuned["winner"] in ("default", "kv-u8") and (ov / "phi3nb_tuned.json").exists()
    out = tmp_path / "out.json"
    argv = ["--model-dir", str(ov), "--skip-slice", "--skip-perplexity", "--runs", "1", "--new-tokens", "8", "--chat-tokens", "4",
            "--json", str(out), "--work-dir", str(tmp_path / "work")]
    if gguf:
        argv += ["--gguf", str(gguf)]
    result = run(add_arguments(argparse.ArgumentParser()).parse_args(argv))

    data = json.loads(out.read_text())
    assert data["backends"].keys() == result["backends"].keys() == {"optimum", "genai", "genai-tuned", "llama.cpp"}
    for name, b in data["backends"].items():
        if name == "llama.cpp" and gguf is None:
            assert "llama_cpp" in b["error"]  # says why it is missing
            continue
        assert "error" not in b, (name, b)
        for field in FIELDS:
            assert _positive(b[field]), (name, field, b[field])
        assert len(b["ttft_by_turn_ms"]) == 5 and all(_positive(t) for t in b["ttft_by_turn_ms"]), b
        assert b["tpot_ms"] == pytest.approx(1000 / b["decode_tok_s"], rel=1e-6)
        assert data["prefill_ttft_ms"][name] == b["prefill_ttft_ms"]
        assert b["prefill_ttft_ms"].keys() == {"1000", "3000"} and all(map(_positive, b["prefill_ttft_ms"].values()))
    roof = data["roofline"]
    assert all(_positive(roof[k]) for k in ("bandwidth_gb_s", "weight_bytes_per_token", "limit_tok_s"))
    assert roof["weight_bytes_per_token"] == (ov / "openvino_model.bin").stat().st_size
    assert "phi3_slice" not in data


def test_slice_figures_arithmetic():
    from phi3nb.bench.slice_bench import slice_figures

    tpot = {2: {"min": 10.0, "mean": 11.0}, 4: {"min": 14.0, "mean": 15.0}}
    fig = slice_figures(tpot, {2: 300e6, 4: 420e6})
    assert fig["ms_per_layer"] == 2.0 and fig["mb_per_layer"] == 60.0 and fig["gb_s"] == 30.0
    assert fig["extrapolated_tok_s"] == pytest.approx(1000 / (10 + 30 * 2))


def test_cli_flags_of_presets():
    from phi3nb.bench.presets import COOKBOOK_PRESET, cli_flags

    assert cli_flags(COOKBOOK_PRESET) == "--weight-format int4 --group-size 128 --ratio 0.6 --sym"


def test_plot_draws_what_the_json_says():
    from phi3nb.bench.plot import LABELS, load, plot

    data = load()
    fig = plot(data)
    speed, per_layer = fig.axes[0], fig.axes[1]
    drawn = {label.get_text(): bar.get_width()
             for label, bar in zip(speed.get_yticklabels(), speed.patches)}
    assert drawn == {LABELS.get(k, k): v["decode_tok_s"] for k, v in data["backends"].items() if v.get("decode_tok_s")}
    labels = " ".join(t.get_text() for ax in fig.axes for t in ax.get_yticklabels())
    assert not any(word in labels for word in ("seed", "Q4_K_M", "fast preset")), labels
    title = fig._suptitle.get_text()
    assert "Xeon" in title and "phi3nb bench --json out.json" in title, title
    unnamed = plot({**data, "meta": {}})._suptitle.get_text()
    assert "the machine that ran phi3nb bench" in unnamed, unnamed
    assert [b.get_width() for b in per_layer.patches] == [v["ms_per_layer"] for v in data["phi3_slice"].values()]


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
    if gguf is None:
        pytest.skip("llama_cpp is not installed")
    res = run_job({"kind": "llama.cpp", "gguf": str(gguf), "model_dir": None, "runs": 1, "new_tokens": 4,
                   "chat": False, "prefill": (), "prompt": "The quick brown fox"})
    assert "error" not in res and "prefill_ttft_ms" not in res, res
