"""The chat box while its model loads, as a person sees it in JupyterLab (headless Chromium): the load's line
with its clock, a message sent meanwhile, then the answer with how long it waited; Light and Dark, 1280 and
800 px; nothing cut off, every line readable (WCAG AA).

A small notebook makes the box the way step 11 does (ChatBox(load_genai_in_background(...), tok)), except
that the real load_genai is held after its first line until the test has its screenshots: the test decides
when the load ends, whatever the CPU's speed. Screenshots: test-artifacts/chatbox-{loading,loaded}-
{light,dark}-{1280,800}.png.
"""

import json
import secrets
from pathlib import Path

import pytest

from test_browser import (BUBBLES, CHROMIUM, CHROMIUM_ARGS, CLIPPED_JS, CONTRAST_JS, SLOW, Lab,
                          free_port, playwright_or_skip, run_all_cells, screenshot_on_failure, start_lab, stop_lab)

pytestmark = pytest.mark.browser

LOADING_NOTEBOOK = '''
import json, os, pathlib, time
import phi3nb
from phi3nb.run.background import ModelLoad

GATE = pathlib.Path(os.environ["PHI3NB_TEST_GATE"])
MODEL = os.environ["PHI3NB_MODEL_ID"]
model_dir = phi3nb.prepare_embedded_model() if MODEL == "embedded" else phi3nb.export_model(
    MODEL, os.environ["PHI3NB_MODEL_DIR"])
tok = phi3nb.load_tokenizer(model_dir)


def held(report):
    """load_genai, held after its first line until the test creates GATE (at most 10 minutes)."""
    def said(line):
        report(line)
        deadline = time.monotonic() + 600
        while line.startswith("loading") and not GATE.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return phi3nb.load_genai(model_dir, "CPU", report=said)


import phi3nb.chat.turn
READ_GATE, real_generate = pathlib.Path(os.environ["PHI3NB_TEST_READ_GATE"]), phi3nb.chat.turn.generate_answer


def reading_held(*args, **kwargs):
    """The real reply, but its prompt's reading takes until the test creates READ_GATE, once armed (READ_GATE.armed
    exists): the minute a pasted document takes at full size, whatever the CPU's speed."""
    deadline = time.monotonic() + 600
    while READ_GATE.with_suffix(".armed").exists() and not READ_GATE.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return real_generate(*args, **kwargs)


phi3nb.chat.turn.generate_answer = reading_held
'''
CHAT_CELL = "chat = phi3nb.ChatBox(ModelLoad(held), tok, max_new_tokens=32)\nchat"
BUBBLES_AND_LOAD = BUBBLES + ", .jp-OutputArea-output .phi3nb-load, .jp-OutputArea-output .phi3nb-load *"


def notebook(path: Path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(LOADING_NOTEBOOK.strip()), nbformat.v4.new_code_cell(CHAT_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def loading_lab(request, tmp_path_factory):
    """(Lab, the gate file): the small notebook run in one JupyterLab page, its model's load held."""
    import phi3nb

    sync_playwright = playwright_or_skip()
    try:
        phi3nb.prepare_embedded_model()
        model_id, real = "embedded", True
    except phi3nb.Phi3nbError:
        model_id, real = str(request.getfixturevalue("tiny_phi3_hf")), False
    tmp = tmp_path_factory.mktemp("browser-loading")
    root = tmp / "lab"
    root.mkdir()
    notebook(root / "loading.ipynb")
    gate = tmp / "go"
    params = {"PHI3NB_MODEL_ID": model_id, "PHI3NB_MODEL_DIR": str(tmp / "export"), "PHI3NB_TEST_GATE": str(gate),
              "PHI3NB_TEST_READ_GATE": str(tmp / "read")}
    port, token = free_port(), secrets.token_hex(16)
    server = start_lab(root, port, token, tmp / "lab.log", params)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            try:
                with screenshot_on_failure(page, "loading-run"):
                    page.goto(f"http://127.0.0.1:{port}/lab/tree/loading.ipynb?token={token}")
                    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=SLOW)
                    run_all_cells(page)
                    news = page.get_by_role("button", name="No", exact=True)
                    if news.count():
                        news.first.click()
                    page.locator(".jp-OutputArea-output .widget-vbox .widget-text input").first.wait_for(
                        timeout=SLOW)
                yield Lab(page, real), gate
            finally:
                gate.touch()  # never leave the kernel's load waiting
                (tmp / "read").touch()  # nor a reply's reading
                browser.close()
    finally:
        stop_lab(server)


def look(lab, name):
    """Screenshots in both themes at both widths; nothing cut off or sticking out; every line >= 4.5:1."""
    for theme in ("JupyterLab Light", "JupyterLab Dark"):
        for width in (1280, 800):
            lab.theme(theme, width)
            lab.shot(f"chatbox-{name}-{theme.split()[-1].lower()}-{width}.png")
            problems = lab.box.evaluate(CLIPPED_JS)
            assert not problems, f"{name}, {theme} at {width} px: {problems}"
            low = [m for m in lab.page.evaluate(CONTRAST_JS, BUBBLES_AND_LOAD) if m["ratio"] < 4.5]
            assert not low, f"{name}, {theme} at {width} px: below 4.5:1: {low}"


def test_the_box_shows_while_loading_and_answers_what_was_sent_meanwhile(loading_lab):
    from playwright.sync_api import expect

    lab, gate = loading_lab
    load = lab.box.locator(".phi3nb-load")
    with screenshot_on_failure(lab.page, "loading"):
        expect(load).to_contain_text("with openvino_genai on CPU, then warming it up", timeout=SLOW)
        clock = load.locator(".phi3nb-load-now")
        first = clock.inner_text()
        expect(clock).not_to_have_text(first, timeout=10_000)  # the clock runs
        question = "What is the capital of France?" if lab.real else "hello"
        lab.field.fill(question)
        lab.field.press("Enter")
        expect(lab.users).to_have_text([question])
        expect(lab.box.get_by_text("answered as soon as the model is loaded")).to_be_visible()
        expect(lab.field).to_have_value("")
        look(lab, "loading")

        gate.touch()
        expect(lab.stats).to_have_count(1, timeout=SLOW)
        expect(lab.stats).to_contain_text("waited")
        expect(load).to_contain_text("Loaded in")
        expect(load.locator(".phi3nb-load-now")).to_have_count(0)
        if lab.real:
            assert "Paris" in lab.replies.first.inner_text()
        look(lab, "loaded")
        expect(lab.button("Send")).to_be_enabled()


def test_stop_while_the_model_reads_says_so_then_the_reply_stops(loading_lab):
    """Stop pressed before the first word (the model reading a long prompt, which nothing interrupts) says so at
    once, readable in both themes at both widths; the reply then ends at its first word, marked stopped."""
    from playwright.sync_api import expect

    from phi3nb.chat.box.widget import STOPPING

    lab, gate = loading_lab
    gate.touch()  # the load may go on (the test above may not have run)
    read = gate.parent / "read"
    expect(lab.button("Send")).to_be_enabled(timeout=SLOW)
    before = lab.stats.count()
    read.with_suffix(".armed").touch()
    with screenshot_on_failure(lab.page, "stopping"):
        lab.field.fill("Write a very long story about a dragon." if lab.real else "hello")
        lab.field.press("Enter")
        expect(lab.button("Stop")).to_be_enabled()
        lab.button("Stop").click()
        expect(lab.box.get_by_text(STOPPING)).to_be_visible()
        expect(lab.button("Stop")).to_be_disabled()  # taken
        look(lab, "stopping")
        read.touch()
        expect(lab.stats).to_have_count(before + 1, timeout=SLOW)
        expect(lab.stats.last).to_contain_text("stopped")
        expect(lab.box.get_by_text(STOPPING)).to_have_count(0)
