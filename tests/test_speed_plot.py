"""The notebook's "How fast is it?" figure: Phi-3-mini at full size from the shipped runs, each CPU named with its
day; and a user's own `phi3nb bench --json` file."""

import json

from phi3nb.speed.plot import LABELS, MEASUREMENTS, SHIPPED, load, plot, short_machine


def bars(ax) -> dict:
    """{(y position, colour): width} of an axis' bars."""
    return {(round(b.get_y(), 3), b.get_facecolor()): b.get_width() for b in ax.patches}


def test_default_plot_draws_phi3_mini_at_full_size_per_cpu_with_its_day():
    runs = load()
    assert [p.name for p in SHIPPED] == ["full-size-xeon-amx.json", "full-size-epyc-avx2.json",
                                         "full-size-epyc-zen4.json"]
    fig = plot()
    speed, first = fig.axes[0], fig.axes[1]
    drawn = sorted(b.get_width() for b in speed.patches)
    expected = sorted(e["decode_tok_s"]["median"] for r in runs for e in r["engines"].values() if "decode_tok_s" in e)
    assert drawn == expected
    assert sorted(b.get_width() for b in first.patches) == sorted(
        e["first_ttft_ms"]["median"] / 1000 for r in runs for e in r["engines"].values() if "first_ttft_ms" in e)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == [short_machine(r) for r in runs]
    for run, entry in zip(runs, legend):
        assert run["meta"]["date"][:10] in entry and entry.split(" (")[0] in ("Intel Xeon", "AMD EPYC"), entry
    assert "amx_tile" in legend[0] and "(avx2)" in legend[1] and "avx512_vnni" in legend[2]
    labels = " ".join(t.get_text() for t in speed.get_yticklabels())
    assert "the cookbook's path" in labels and "the chat" in labels
    assert not any(word in labels for word in ("seed", "Q4_K_M", "fast preset")), labels
    title = fig._suptitle.get_text()
    assert "full size" in title and "phi3nb bench --json out.json" in title, title


def test_plot_draws_a_users_bench_json(tmp_path):
    data = json.loads((MEASUREMENTS / "this-machine.json").read_text())
    out = tmp_path / "out.json"
    out.write_text(json.dumps(data))
    fig = plot(str(out))
    speed, per_layer = fig.axes[0], fig.axes[1]
    drawn = {label.get_text(): bar.get_width() for label, bar in zip(speed.get_yticklabels(), speed.patches)}
    assert drawn == {LABELS.get(k, k): v["decode_tok_s"] for k, v in data["backends"].items() if v.get("decode_tok_s")}
    title = fig._suptitle.get_text()
    assert "Xeon" in title and "2026-11-27" in title and "phi3nb bench --json out.json" in title, title
    unnamed = plot({**data, "meta": {}})._suptitle.get_text()
    assert "the machine that ran phi3nb bench" in unnamed, unnamed
    cpu = {"model": "AMD EPYC 7B13", "flags": ["avx2"]}
    assert "AMD EPYC 7B13 (avx2)" in plot({**data, "meta": {"cpu": cpu}})._suptitle.get_text()
    assert [b.get_width() for b in per_layer.patches] == [v["ms_per_layer"] for v in data["phi3_slice"].values()]


def test_plot_draws_one_full_size_json_as_given(tmp_path):
    run = json.loads(SHIPPED[1].read_text())
    fig = plot(run)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [short_machine(run)]
    assert sorted(b.get_width() for b in fig.axes[0].patches) == sorted(
        e["decode_tok_s"]["median"] for e in run["engines"].values())
