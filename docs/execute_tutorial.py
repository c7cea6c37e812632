"""Run the tutorial notebook once on the embedded model, for the docs' tutorial page.

    python docs/execute_tutorial.py     # writes docs/tutorial.ipynb and docs/_generated/bench-plot.png

papermill runs notebooks/phi3_openvino_chat.ipynb with MODEL_ID=embedded (the same `-p` a reader would
use) in a scratch folder, and stops the build on the first cell that raises. The outputs are the run's
own; two things a static page cannot show are changed, and the page says so: widget views become their
text, and the chat box's output becomes the browser test's screenshot of a real two-turn chat.
"""

import base64
import os
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NOTEBOOK = ROOT / "notebooks" / "phi3_openvino_chat.ipynb"
OUT = DOCS / "tutorial.ipynb"
PLOT = DOCS / "_generated" / "bench-plot.png"
SCREENSHOT = "chatbox.png"  # docs/chatbox.png: the browser test's screenshot (tests/test_browser.py)
PARAMETERS = {"MODEL_ID": "embedded", "MAX_NEW_TOKENS": 160}
WIDGET = "application/vnd.jupyter.widget-view+json"

RUN_NOTE = ("*The outputs on this page come from running this notebook while the docs were built, on the "
            "embedded model (SmolLM2-135M-Instruct, int8) on a CPU, with papermill's "
            "`-p MODEL_ID embedded -p MAX_NEW_TOKENS 160` (the cell after the settings). "
            "With Phi-3 the answers are Phi-3's.*")
CHAT_NOTE = ("**The chat box needs a running Python kernel, so it cannot work on this static page.** "
             "Run the notebook in JupyterLab to chat. This is a real two-turn chat on the embedded model, "
             "the screenshot that the browser test (`tests/test_browser.py`) takes:\n\n"
             f"![A two-turn chat in the notebook's chat box: What is the capital of France? And of Germany?]"
             f"({SCREENSHOT})")


def execute(out: Path):
    import papermill

    with tempfile.TemporaryDirectory(prefix="phi3nb-docs-") as scratch:
        papermill.execute_notebook(str(NOTEBOOK), str(out), parameters=PARAMETERS, kernel_name="python3",
                                   cwd=scratch, progress_bar=False, log_output=False, execution_timeout=600)


def code_cell(nb, text: str):
    """The first code cell whose source contains `text`; a clear error if the notebook has none."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and text in cell.source:
            return index, cell
    raise SystemExit(f"[docs] no code cell with {text!r} in {NOTEBOOK.name}: update docs/execute_tutorial.py")


def merge_streams(outputs: list) -> list:
    """Consecutive pieces of one stream as one output, as Jupyter shows a streamed answer."""
    merged = []
    for output in outputs:
        last = merged[-1] if merged else None
        if last and output.output_type == last.output_type == "stream" and output.name == last.name:
            last.text += output.text
        else:
            merged.append(output)
    return merged


def for_static_page(nb):
    """Widget views as text, streams merged, the chat box as its screenshot, the plot saved for the speed page."""
    import nbformat

    nb.metadata.pop("widgets", None)  # widget state would make the page load widget code from a CDN
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET, None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    index, chat = code_cell(nb, "phi3nb.ChatBox(")
    chat.outputs = []
    nb.cells.insert(index + 1, nbformat.v4.new_markdown_cell(CHAT_NOTE))
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(RUN_NOTE))
    _, plot = code_cell(nb, "plot(")
    pngs = [o["data"]["image/png"] for o in plot.outputs if "image/png" in o.get("data", {})]
    if not pngs:
        raise SystemExit("[docs] the notebook's plot cell drew no figure")
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    PLOT.write_bytes(base64.b64decode(pngs[0]))


def main() -> int:
    import nbformat
    from papermill.exceptions import PapermillExecutionError

    if not (DOCS / SCREENSHOT).is_file():
        raise SystemExit(f"[docs] docs/{SCREENSHOT} is missing")
    start = time.monotonic()
    print(f"[docs] running {NOTEBOOK.name} on the embedded model (under a minute here)...", flush=True)
    try:
        execute(OUT)
    except PapermillExecutionError as e:
        print(f"[docs] cell {e.exec_count} raised {e.ename}: {e.evalue}\n[docs] the failed run is in {OUT}")
        return 1
    nb = nbformat.read(OUT, as_version=4)
    for_static_page(nb)
    nbformat.write(nb, OUT)
    print(f"[docs] ran {sum(c.cell_type == 'code' for c in nb.cells)} code cells in "
          f"{time.monotonic() - start:.0f} s -> {OUT}, {PLOT}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the kernel inherits these: no model hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    sys.exit(main())
