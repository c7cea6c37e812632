"""One source for every figure: what README.md, docs/*.md, phi3nb/bench/README.md and the notebook's text show as
measured is rendered from the committed bench JSONs (docs/figures.py), and fit.py's needs are read from them."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

import figures  # noqa: E402
from phi3nb.measurements import read  # noqa: E402

# A measured figure: a number with a unit of time, size, speed or share, or a ratio (1.26x, or x1.076 as the
# perplexity ratios are written). Bare numbers (a table's cells, versions) are not looked for.
NUMBER = r"\d[\d,]*(?:\.\d+)?"
UNIT = r"(?:ms|s|sec|seconds?|min|minutes?|h|hours?|GB/s|GB|MB|KB|kB|GiB|MiB|tokens/s|tok/s|tokens?|%|x)"
FIGURE = re.compile(rf"(?<![\w.\-/]){NUMBER}\s?{UNIT}(?![\w/])|(?<![\w.])x\d+\.\d+(?![\w.])")

# Figures that are not measurements, each with why; matched as whole strings in their files' text.
ALLOWED = {
    # model facts, from the model cards or the models' configs
    "3.8 B": "parameters, model card",
    "4,096 tokens": "Phi-3-mini's window and the LongRoPE switch (model config)",
    "131,072 tokens": "Phi-3.5-mini's and Phi-4-mini's max_position_embeddings (model config)",
    "32,064 tokens": "Phi-3's vocabulary size (model config)",
    "200,064 tokens": "Phi-4-mini's vocabulary size (model config)",
    # the laptops a reader owns
    "8 GB": "a laptop's memory size, the reader's question",
    "16 GB": "a laptop's memory size, the reader's question",
    # settings and limits of the code or the tests, not measurements
    "300 s": "phi3nb tune's default --budget (tune.BUDGET_S)",
    "3 %": "phi3nb tune's margin to keep a config (tune.MARGIN)",
    "8 %": "phi3nb tune's margin to drop a config (tune.RACE_MARGIN)",
    "60 s": "RemoteChat's default timeout",
    "64 tokens": "phi3nb bench --room's reply length (room.room_bench max_new_tokens)",
    "200 tokens": "test_embedded's MAX_NEW_TOKENS allowance",
    "45 minutes": "the budget tests/test_bench_fullsize.py holds the default --full-size plan to (45 * 60 s)",
}


def notebook_markdown() -> str:
    nb = json.loads(figures.NOTEBOOK.read_text(encoding="utf-8"))
    return "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def reader_texts() -> dict:
    """{name: text} of everything a reader sees: the READMEs and docs pages (figures.markdown_files), the notebook's
    markdown."""
    found = {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in figures.markdown_files()}
    found["notebooks/phi3_openvino_chat.ipynb (markdown)"] = notebook_markdown()
    return found


def stray_figures(text: str) -> list:
    """The figures in `text` outside rendered blocks and not in ALLOWED."""
    outside = figures.BLOCK.sub("", text)
    for allowed in ALLOWED:
        outside = outside.replace(allowed, " ")
    return [m.group(0) for m in FIGURE.finditer(outside)]


def test_committed_blocks_equal_a_fresh_render():
    assert figures.stale() == [], "re-render with: .venv/bin/python docs/figures.py"


def test_every_block_is_used_and_names_machine_and_date():
    used = {name for text in reader_texts().values() for name, _ in figures.BLOCK.findall(text)}
    assert used == set(figures.BLOCKS), set(figures.BLOCKS) ^ used
    for name, render in figures.BLOCKS.items():
        text = render()
        assert re.search(r"20\d\d-\d\d-\d\d", text) and re.search(r"Xeon|EPYC|Published by .*not measured here", text), name


def test_no_measured_figure_stands_outside_a_rendered_block():
    found = {name: strays for name, text in reader_texts().items() if (strays := stray_figures(text))}
    assert not found, f"figures with no measurement behind them (render them from a JSON, or allow-list a fact): {found}"


@pytest.mark.parametrize("text, strays", [
    ("the export took 95 s and 11.0 GB", ["95 s", "11.0 GB"]),
    ("1.26x llama.cpp, perplexity x1.076, 55 %, 7.4 tokens/s, 3,000 tokens", ["1.26x", "x1.076", "55 %",
                                                                           "7.4 tokens/s", "3,000 tokens"]),
    ("<!-- figures:laptop -->\n| 4.7 GB |\n<!-- /figures:laptop -->", []),
    ("a 4,096 tokens window on an 8 GB laptop; phi3nb, Phi-3-mini, int4, x86, 32-token prompt, Python 3.10", []),
])
def test_the_grep_finds_figures_and_only_figures(text, strays):
    assert stray_figures(text) == strays


def test_fit_checks_needs_are_the_measurements_largest():
    from phi3nb import Phi3nbError
    from phi3nb.export import fit

    runs = [read(name) for name in figures.FULL_SIZE]
    cookbook = [r["exports"]["cookbook"] for r in runs if "memory" in r["exports"]["cookbook"]]
    assert fit.FULL_SIZE_RUNS == figures.FULL_SIZE
    assert fit.PHI3_MINI_EXPORT_PEAK_GB == pytest.approx(max(c["memory"]["rss_mb"] for c in cookbook) / 1000)
    assert fit.PHI3_MINI_EXPORT_ANON_GB == pytest.approx(max(c["memory"]["rss_anon_mb"] for c in cookbook) / 1000)
    assert fit.PHI3_MINI_EXPORT_OUTPUT_MB == max(c["final_mb"] for c in cookbook)
    assert fit.PHI3_MINI_FAST_OUTPUT_MB == max(r["exports"]["fast"]["final_mb"] for r in runs
                                               if "final_mb" in r["exports"]["fast"])
    assert fit.PHI3_MINI_CHAT_RSS_GB == pytest.approx(
        max(r["engines"]["genai-chat"]["memory"]["prefill"]["rss_mb"] for r in runs) / 1000)
    assert fit.PHI3_MINI_PARAMS == runs[0]["meta"]["model"]["parameters"]
    from phi3nb.measurements import date
    days = sorted(date(r["meta"]) for r in runs)
    assert f"{days[0]} to {days[-1]}" in fit.SOURCE and "phi3nb/measurements/" in fit.SOURCE
    with pytest.raises(Phi3nbError, match="missing or unreadable"):
        fit._measured(("no-such-run.json",))


def test_fit_messages_say_where_their_figures_come_from(monkeypatch, tmp_path):
    from phi3nb import Phi3nbError
    from phi3nb.export import fit

    (tmp_path / "openvino_model.bin").write_bytes(b"\0" * 1000)
    monkeypatch.delenv(fit.SKIP, raising=False)
    monkeypatch.setattr(fit, "_memory", lambda: (0, 0))
    with pytest.raises(Phi3nbError) as error:
        fit.check_load_fits(tmp_path)
    assert fit.SOURCE in str(error.value)
