"""The notebook's "How fast is it?" figure, from the shipped JSON and from others."""


def test_plot_draws_what_the_json_says():
    from phi3nb.speed.plot import LABELS, load, plot

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
    cpu = {"model": "AMD EPYC 7B13", "flags": ["avx2"]}
    assert "AMD EPYC 7B13 (avx2)" in plot({**data, "meta": {"cpu": cpu}})._suptitle.get_text()
    assert [b.get_width() for b in per_layer.patches] == [v["ms_per_layer"] for v in data["phi3_slice"].values()]
