"""Sphinx configuration for the phi3nb site: `bash docs/build.sh` builds it (see docs/README.md)."""

import json
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS)]  # this tree's phi3nb for the API reference
# The pages are the docs/*.md files themselves (the README links to them); their figures are rendered into them
# from phi3nb/measurements/ by docs/figures.py and checked by tests/test_figures.py, not at build time.


def write_parameters_cell(notebook: Path, out: Path):
    """The notebook's cell tagged `parameters`, for testing-your-notebook.md to quote."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise RuntimeError(f"{notebook.name} has {len(tagged)} cells tagged 'parameters', not 1")
    out.write_text("".join(tagged[0]["source"]) + "\n", encoding="utf-8")


(DOCS / "_generated").mkdir(exist_ok=True)
write_parameters_cell(ROOT / "notebooks" / "phi3_openvino_chat.ipynb", DOCS / "_generated" / "parameters_cell.py")
if not (DOCS / "tutorial.ipynb").is_file():
    raise RuntimeError("docs/tutorial.ipynb is missing: build with `bash docs/build.sh`, which runs the notebook first")

project = "phi3nb"
copyright = "phi3nb's authors, MIT License"
html_title = "phi3nb: Phi-3 on OpenVINO, step by step"
extensions = ["myst_nb", "sphinx.ext.autodoc"]
exclude_patterns = ["_build", "_generated", "README.md", "**.ipynb_checkpoints"]
html_theme = "furo"
html_static_path = ["_static"]
html_css_files = ["outputs.css"]
default_role = "code"  # `name` in docstrings is code, as in the Markdown pages

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

nb_execution_mode = "off"  # docs/build.sh has just run the notebook (docs/execute_tutorial.py)
nb_ipywidgets_js = {}  # no widget code from a CDN: the site works offline

autodoc_member_order = "bysource"
autodoc_typehints = "description"


def constants_show_their_value(app, what, name, obj, options, lines):
    """phi3nb's constants have no docstrings: show their value, not the docstring of `dict` or `str`."""
    if what == "data":
        lines[:] = []


def setup(app):
    app.connect("autodoc-process-docstring", constants_show_their_value)
