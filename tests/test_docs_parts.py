"""The docs build's own parts, without building: README sections for the pages, and the link check."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))

from check_links import broken_links  # noqa: E402
from readme_sections import PAGES, ReadmeSectionError, first_screen, rebase_links, section, write_pages  # noqa: E402
from test_readme import first_screen_commands  # noqa: E402

README = "# Title\n\nIntro.\n\n```bash\nrun\n```\n---\n\n## A\n\ntext ![x](docs/a.png)\n\n### Sub\n\n```bash\n## not a heading\n```\n\n## B\n\nb\n"


def test_section_runs_to_the_next_heading_and_raises_its_headings():
    assert section(README, "A") == "# A\n\ntext ![x](docs/a.png)\n\n## Sub\n\n```bash\n## not a heading\n```\n"
    assert section(README, "B") == "# B\n\nb\n"


def test_a_missing_section_fails_naming_the_ones_there_are():
    with pytest.raises(ReadmeSectionError, match=r"no '## Workshops'.*\['A', 'B'\]"):
        section(README, "Workshops")


def test_first_screen_is_what_the_readme_test_reads():
    assert first_screen(README) == "Intro.\n\n```bash\nrun\n```\n"
    text = (ROOT / "README.md").read_text()
    for command in first_screen_commands():
        assert command in first_screen(text)


def test_links_are_rebased_to_the_docs_folder():
    md = "![x](docs/chatbox.png) [y](phi3nb/bench/README.md) [z](https://e.org/a) [w](#here)"
    assert rebase_links(md, ROOT, ROOT / "docs") == (
        "![x](chatbox.png) [y](../phi3nb/bench/README.md) [z](https://e.org/a) [w](#here)")


def test_the_site_pages_exist_in_this_readme(tmp_path):
    written = write_pages(ROOT / "README.md", tmp_path, PAGES, ROOT / "docs")
    assert [p.stem for p in written] == list(PAGES) and all(p.read_text().strip() for p in written)


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
