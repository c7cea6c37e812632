"""The docs build's own parts, without building: the pages as their own sources, the README's links to them,
and the link check."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS))

from check_links import broken_links  # noqa: E402
from test_readme import first_screen_commands  # noqa: E402

PAGES = sorted(p for p in DOCS.glob("*.md") if p.name != "README.md")  # docs/README.md: how the site is built


def test_the_site_shows_the_readmes_two_commands():
    index = (DOCS / "index.md").read_text()
    assert re.findall(r"```bash\n(.+?)\n```", index) == first_screen_commands()


def test_every_page_is_its_own_source_and_in_the_toctree():
    index = (DOCS / "index.md").read_text()
    toctree = re.search(r"```\{toctree\}\n(.*?)```", index, re.S).group(1).split()
    for page in PAGES:
        text = page.read_text()
        assert "_generated/readme" not in text and "{include}" not in text, page.name
        assert page.name == "index.md" or page.stem in toctree, f"{page.name} is in no toctree"
    assert not (DOCS / "readme_sections.py").exists()


def test_the_readmes_links_to_docs_pages_resolve():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((docs/[^)#\s]+|phi3nb/[^)#\s]+)", readme)
    assert len(links) >= 10 and "docs/layout.md" in links, links
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing


def test_the_readme_is_for_acting():
    """Under ~250 lines; a host finds the 8 GB answer and the room's server within 150; no paragraph twice."""
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert len(lines) <= 250, len(lines)
    head = "\n".join(lines[:150])
    assert "**8 GB laptops:**" in head and "### One server for the room" in head
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", readme) if len(p.split()) > 12]
    repeated = {p for p in paragraphs if paragraphs.count(p) > 1}
    assert not repeated, repeated


def page(path: Path, body: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>")


def test_link_check_passes_a_sound_site(tmp_path):
    page(tmp_path / "index.html", '<a href="sub/p.html#s">p</a><img src="i.png"><a href="https://e.org">out</a>'
                                  '<link rel="canonical" href="https://e.org/x">')
    page(tmp_path / "sub" / "p.html", '<h2 id="s">S</h2><a href="../index.html">home</a>')
    (tmp_path / "i.png").write_bytes(b"png")
    assert broken_links(tmp_path) == []


@pytest.mark.parametrize("body, why", [
    ('<a href="missing.html">x</a>', "no such file"),
    ('<img src="_images/gone.png">', "no such file"),
    ('<a href="index.html#nowhere">x</a>', "no id 'nowhere'"),
    ('<script src="https://cdn.example/w.js"></script>', "network"),
    ('<link rel="stylesheet" href="https://cdn.example/s.css">', "network"),
])
def test_link_check_finds_each_kind_of_break(tmp_path, body, why):
    page(tmp_path / "index.html", body)
    [(where, _, reason)] = broken_links(tmp_path)
    assert where == "index.html" and why in reason


def notebook(*cells):
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_markdown_cell("# T")] + [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def test_a_cell_error_fails_the_build_naming_the_cell(tmp_path, monkeypatch, capsys):
    import nbformat
    import execute_tutorial

    broken = tmp_path / "broken.ipynb"
    nbformat.write(notebook("MODEL_ID = 'x'", "raise ValueError('boom')"), broken)
    monkeypatch.setattr(execute_tutorial, "NOTEBOOK", broken)
    monkeypatch.setattr(execute_tutorial, "OUT", tmp_path / "out.ipynb")
    monkeypatch.setattr(execute_tutorial, "PARAMETERS", {})
    assert execute_tutorial.main() == 1
    assert "cell 2 raised ValueError: boom" in capsys.readouterr().out


def test_the_static_page_keeps_the_runs_outputs_and_replaces_only_the_chat_box(tmp_path, monkeypatch):
    import nbformat
    import execute_tutorial

    monkeypatch.setattr(execute_tutorial, "PLOT", tmp_path / "plot.png")
    nb = notebook("print('a')", "chat = phi3nb.ChatBox(m, tok)\nchat", "plot()")
    stream = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in ("I'm", " Dr", ".")]
    nb.cells[1].outputs = stream + [nbformat.v4.new_output("stream", name="stderr", text="warn")]
    nb.cells[2].outputs = [nbformat.v4.new_output("execute_result", data={
        "text/plain": "ChatBox()", execute_tutorial.WIDGET: {"model_id": "1"}})]
    nb.cells[3].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "cG5n", "text/plain": "fig"})]
    nb.metadata["widgets"] = {"state": {}}
    execute_tutorial.for_static_page(nb)
    assert [(o.name, o.text) for o in nb.cells[2].outputs] == [("stdout", "I'm Dr."), ("stderr", "warn")]
    chat = next(c for c in nb.cells if "ChatBox(" in c.source)
    following = nb.cells[nb.cells.index(chat) + 1]
    assert chat.outputs == [] and "cannot work on this static page" in following.source
    assert "widgets" not in nb.metadata and (tmp_path / "plot.png").read_bytes() == b"png"
    assert "while the docs were built" in nb.cells[1].source


def test_a_notebook_without_the_chat_cell_fails_the_build():
    import execute_tutorial

    with pytest.raises(SystemExit, match="no code cell with 'phi3nb.ChatBox\\('"):
        execute_tutorial.for_static_page(notebook("print(1)"))
