"""The built docs site in headless Chromium: the tutorial page shows the executed notebook's outputs, the plot
and the chat box's screenshot, and no cell error.

Runs against docs/_build/html as `bash docs/build.sh` left it (CI builds it once, then runs this file);
skipped, saying so, when the site is not built or Chromium is missing.
Leaves test-artifacts/docs-tutorial-answer.png and docs-tutorial-plot.png.
"""

import functools
import http.server
import re
import threading
from pathlib import Path

import pytest

from test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

SITE = Path(__file__).resolve().parent.parent / "docs" / "_build" / "html"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "tutorial.html").is_file():
        pytest.skip(f"the docs site is not built ({SITE}/tutorial.html): run bash docs/build.sh first")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def cell(page, code: str):
    """The notebook cell on the page whose code contains `code`."""
    cells = page.locator(".cell").filter(has=page.locator(".cell_input", has_text=code))
    assert cells.count() == 1, f"{cells.count()} cells with {code!r}"
    return cells.first


def image_loaded(img) -> bool:
    return img.evaluate("i => i.complete && i.naturalWidth > 100")


def test_tutorial_page_shows_the_runs_outputs(site_url, page):
    page.goto(f"{site_url}/tutorial.html")
    assert page.locator(".cell").count() >= 15
    assert page.locator(".output.traceback, .output.error").count() == 0  # no cell raised
    prompt = cell(page, "phi3nb.phi3_prompt(").locator(".cell_output")
    assert "<|system|>You are a helpful AI assistant.<|end|><|user|>can you introduce yourself?" in prompt.inner_text()
    answer = cell(page, "decoded_answer = ").locator(".cell_output")
    words = re.findall(r"[A-Za-z']+", answer.inner_text())
    assert len(words) >= 20, answer.inner_text()
    answer.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-tutorial-answer.png"))


def test_tutorial_page_shows_the_plot_and_the_chat_screenshot(site_url, page):
    page.goto(f"{site_url}/tutorial.html")
    figure = cell(page, "plot(").locator(".cell_output img")
    assert figure.count() == 1 and image_loaded(figure)
    note = page.get_by_text("cannot work on this static page")
    assert note.count() == 1
    shot = page.locator("img[alt*='two-turn chat']")
    assert shot.count() == 1 and image_loaded(shot)
    figure.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-tutorial-plot.png"))


def test_every_page_is_reachable_from_the_index(site_url, page):
    page.goto(f"{site_url}/index.html")
    links = page.locator(".sidebar-tree a.reference.internal")
    titles = [t.strip() for t in links.all_inner_texts()]
    for title in ["Phi-3 on OpenVINO, step by step", "When something goes wrong", "How fast is it?", "Workshops",
                  "Test your own notebook like this one", "API reference"]:
        assert title in titles, titles
    page.goto(f"{site_url}/how-fast.html")
    assert image_loaded(page.locator("img[alt^='Decode tokens/s']"))
    page.goto(f"{site_url}/api.html")
    import phi3nb

    documented = set(page.locator("dt[id^='phi3nb.']").evaluate_all("dts => dts.map(d => d.id)"))
    missing = {f"phi3nb.{name}" for name in phi3nb.__all__} - documented
    assert not missing, f"not in docs/api.md: {sorted(missing)}"
    assert "phi3nb.speed.plot.plot" in documented
