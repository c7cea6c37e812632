"""The tutorial notebook in a real JupyterLab, driven by headless Chromium: Run All once, then the chat box
as a person uses it: two turns (Send, Enter), Enter and leaving the box, scrolling up and selecting while a
reply streams, why a reply ended, and every bubble's contrast in JupyterLab Light and Dark at 1280 and 800 px.

One JupyterLab server and one page serve every test here, in file order. Uses the embedded SmolLM2 when
available (readable screenshots), else the tiny random Phi-3. Screenshots go to test-artifacts/ at the repo
root: chatbox-two-turns.png, chatbox-{light,dark}-{1280,800}.png and chatbox-advanced.png.
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

import phi3nb

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SCREENSHOT = ARTIFACTS / "chatbox-two-turns.png"
TUTORIAL = Path(__file__).resolve().parent.parent / "notebooks" / "phi3_openvino_chat.ipynb"
SLOW = 60_000  # ms; kernel start + model load + a reply on a busy CPU; only a hang reaches it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tutorial_copy(root: Path) -> Path:
    """The tutorial notebook itself, as a workshop attendee opens it."""
    import shutil

    return Path(shutil.copy(TUTORIAL, root / "chat.ipynb"))


def start_lab(root: Path, port: int, token: str, log: Path, params: dict):
    """JupyterLab on localhost in its own process group (so its kernels stop with it).

    `params` are the notebook's PHI3NB_* settings, which its kernels inherit.
    """
    env = {**os.environ, **params, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "JUPYTER_CONFIG_DIR": str(root.parent / "jupyter-config"),
           "JUPYTER_RUNTIME_DIR": str(root.parent / "jupyter-runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(root.parent / "lab-settings")}  # the theme switch is saved here
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.workspaces_dir={root.parent / 'workspaces'}", "--ServerApp.port_retries=0",
           "--LabApp.expose_app_in_browser=True"]  # window.jupyterapp: the tests switch themes through it
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return proc
        except OSError:
            time.sleep(0.3)
    stop_lab(proc)
    raise RuntimeError(f"JupyterLab did not answer within 60 s: {log.read_text()[-2000:]}")


def stop_lab(proc):
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


BUSY = "Still answering the last message"
LONG = "Write a very long story about a dragon, in ten chapters."  # 2000 tokens on the embedded model
# The WCAG contrast of every element inside every bubble and stats line, against the background it is
# painted on (the first opaque one up the tree, with translucent layers composited on top).
CONTRAST_JS = """(sel) => {
  const ctx = Object.assign(document.createElement('canvas'), {width: 1, height: 1})
    .getContext('2d', {willReadFrequently: true});
  const rgba = (css) => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = '#000'; ctx.fillStyle = css;
    ctx.fillRect(0, 0, 1, 1); const d = ctx.getImageData(0, 0, 1, 1).data; return [d[0], d[1], d[2], d[3] / 255]; };
  const over = (top, below) => [0, 1, 2].map(i => top[i] * top[3] + below[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    return layers.reverse().reduce((below, c) => over(c, below), [255, 255, 255, 1]);
  };
  const lum = (c) => c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  return [...document.querySelectorAll(sel)].filter(e => e.offsetParent && e.innerText.trim()).map(e => {
    const bg = background(e), fg = over(rgba(getComputedStyle(e).color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    return {element: e.className || e.tagName, text: e.innerText.slice(0, 30), ratio: (hi + 0.05) / (lo + 0.05)};
  });
}"""
BUBBLES = ", ".join(f".jp-OutputArea-output {c}, .jp-OutputArea-output {c} *"
                    for c in (".phi3nb-user", ".phi3nb-assistant", ".phi3nb-error", ".phi3nb-stats", ".phi3nb-note"))
# What is cut off or sticks out of the visible notebook: buttons shrunk to "…", the pane's border.
CLIPPED_JS = """(box) => {
  const r = (e) => e.getBoundingClientRect();
  const edge = Math.min(r(box.closest('.jp-OutputArea-output')).right, r(box.closest('.jp-NotebookPanel')).right);
  const problems = [];
  for (const b of box.querySelectorAll('button')) {
    if (!b.offsetParent || getComputedStyle(b).visibility === 'hidden') continue;
    const name = b.innerText.trim() || b.title;
    if (b.scrollWidth > b.clientWidth + 1) problems.push(`${name}: text cut (${b.scrollWidth} > ${b.clientWidth} px)`);
    if (r(b).right > edge + 0.5) problems.push(`${name}: ends at ${r(b).right}, past the edge at ${edge}`);
  }
  const pane = box.querySelector('.phi3nb-chat');
  if (r(pane).right > edge + 0.5) problems.push(`pane: ends at ${r(pane).right}, past the edge at ${edge}`);
  const out = box.closest('.jp-OutputArea-output');
  if (out.scrollWidth > out.clientWidth + 1) problems.push(`output scrolls sideways: ${out.scrollWidth} > ${out.clientWidth}`);
  return problems;
}"""
PANE = "document.querySelector('.jp-OutputArea-output .phi3nb-chat')"


@pytest.fixture(scope="module")
def chat_model(request):
    """(the notebook's PHI3NB_MODEL_ID, is it the real embedded chat model)."""
    try:
        phi3nb.prepare_embedded_model()
        return "embedded", True
    except phi3nb.Phi3nbError:
        return str(request.getfixturevalue("tiny_phi3_hf")), False


class Lab:
    """The tutorial after Run All in one JupyterLab page, and the chat box in it, as a person sees them."""

    def __init__(self, page, real):
        self.page, self.real = page, real
        self.box = page.locator(".jp-OutputArea-output .widget-vbox").first
        self.field = self.box.locator(".widget-text input")
        self.users, self.replies = self.box.locator(".phi3nb-user"), self.box.locator(".phi3nb-assistant")
        self.stats = self.box.get_by_text("tokens/s")  # each finished reply's stats line
        self.busy = self.box.get_by_text(BUSY)

    def button(self, name):
        """The button labelled `name` (its accessible name is its tooltip, when it has one)."""
        return self.box.locator("button.jupyter-button").filter(has_text=re.compile(rf"^\s*{name}\s*$"))

    def set_max_tokens(self, n):
        """Under Advanced, type into the Max tokens slider's readout, as a person would."""
        readout = self.box.locator(".widget-slider", has_text="Max tokens").locator(".widget-readout")
        if not readout.is_visible():
            self.box.get_by_text("Advanced", exact=True).click()
        readout.fill(str(n))
        readout.press("Enter")
        self.page.wait_for_timeout(300)

    def theme(self, name, width):
        """JupyterLab Light or Dark at `width` px, the file browser open, the chat box in view."""
        page = self.page
        page.set_viewport_size({"width": width, "height": 1000})
        page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", name)
        page.wait_for_function("light => document.body.dataset.jpThemeLight === light",
                               arg=str(name == "JupyterLab Light").lower(), timeout=SLOW)
        if not page.locator("#filebrowser").is_visible():
            page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
        page.locator("#filebrowser").wait_for(state="visible")
        page.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
        page.wait_for_timeout(500)  # theme CSS applied, layout settled
        self.box.scroll_into_view_if_needed()

    def shot(self, name):
        ARTIFACTS.mkdir(exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / name))


def playwright_or_skip():
    """Playwright's sync_playwright, or a skip that names what is missing (Debian's chromium, playwright)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"playwright is not installed: {e}")
    return sync_playwright


@pytest.fixture(scope="module")
def lab(chat_model, tmp_path_factory):
    """One JupyterLab and one page for every test here: the notebook runs once (the slow part)."""
    sync_playwright = playwright_or_skip()
    model_id, real = chat_model
    tmp = tmp_path_factory.mktemp("browser")
    root = tmp / "lab"
    root.mkdir()
    tutorial_copy(root)
    params = {"PHI3NB_MODEL_ID": model_id, "PHI3NB_MODEL_DIR": str(tmp / "export"), "PHI3NB_MAX_NEW_TOKENS": "32"}
    port, token = free_port(), secrets.token_hex(16)
    server = start_lab(root, port, token, tmp / "lab.log", params)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=f"http://127.0.0.1:{port}")
            page = context.new_page()
            try:
                with screenshot_on_failure(page, "run-all"):
                    run_tutorial(page, port, token)
                yield Lab(page, real)
            finally:
                browser.close()
    finally:
        stop_lab(server)


@contextmanager
def screenshot_on_failure(page, name):
    try:
        yield
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"chatbox-failure-{name}.png"))
        raise


def run_all_cells(page, tries=5):
    """Run > Run All Cells, again until the first cell starts: a click before the kernel connects is lost."""
    from playwright.sync_api import expect

    prompt = page.locator(".jp-Notebook .jp-Cell .jp-InputPrompt").first
    expect(page.locator("#jp-main-statusbar").get_by_text("| Idle")).to_be_visible(timeout=SLOW)
    for attempt in range(tries):
        dialog = page.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel": take the preselected one
        if dialog.count():
            dialog.first.click()
        page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
        page.locator(".lm-Menu .lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
        try:
            expect(prompt).not_to_have_text("[ ]:", timeout=10_000)
            return
        except AssertionError:
            if attempt == tries - 1:
                raise


def run_tutorial(page, port, token):
    page.goto(f"http://127.0.0.1:{port}/lab/tree/chat.ipynb?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=SLOW)
    run_all_cells(page)
    news = page.get_by_role("button", name="No", exact=True)  # "get notified about Jupyter news?"
    if news.count():
        news.first.click()
    page.locator(".jp-OutputArea-output .widget-vbox .widget-text input").first.wait_for(timeout=SLOW)


def test_two_turn_chat_in_jupyterlab(lab):
    """Ask by Send, ask again by Enter, check both replies; copy one; take the README's screenshot."""
    from playwright.sync_api import expect

    with screenshot_on_failure(lab.page, "two-turns"):
        question1 = "What is the capital of France?" if lab.real else "hello"
        lab.field.fill(question1)
        lab.button("Send").click()
        expect(lab.stats).to_have_count(1, timeout=SLOW)
        expect(lab.users).to_have_text([question1])
        first = lab.replies.nth(0).inner_text()

        question2 = "And of Germany?" if lab.real else "again"
        lab.field.fill(question2)
        lab.field.press("Enter")  # the second turn goes by Enter
        expect(lab.stats).to_have_count(2, timeout=SLOW)
        expect(lab.users).to_have_text([question1, question2])
        second = lab.replies.nth(1).inner_text()
        assert first.strip() and second.strip()
        if lab.real:
            assert "Paris" in first and "Berlin" in second
        expect(lab.button("Send")).to_be_enabled()

        lab.box.locator(".phi3nb-copy").first.click()  # Copy puts the first reply's Markdown on the clipboard
        if lab.real:  # (the tiny model's noise may hold Markdown that renders differently from its source)
            lab.page.wait_for_function("async t => (await navigator.clipboard.readText()).trim() === t",
                                       arg=first.strip(), timeout=10_000)
        lab.box.scroll_into_view_if_needed()
        lab.shot(SCREENSHOT.name)


def test_readable_at_800px_with_the_file_browser_open(lab):
    """No button shrinks to "…", nothing sticks out past the notebook's edge, in both themes."""
    with screenshot_on_failure(lab.page, "narrow"):
        for theme, shot in (("JupyterLab Light", "chatbox-light-800.png"), ("JupyterLab Dark", "chatbox-dark-800.png")):
            lab.theme(theme, 800)
            lab.shot(shot)
            problems = lab.box.evaluate(CLIPPED_JS)
            assert not problems, f"{theme} at 800 px: {problems}"
            for name in ("Send", "Stop", "Clear"):
                assert lab.button(name).inner_text().strip() == name


def test_every_bubble_is_readable_in_light_and_dark(lab):
    """WCAG AA: >= 4.5:1 for every bubble and stats line, measured from the browser's computed colours."""
    from playwright.sync_api import expect

    with screenshot_on_failure(lab.page, "contrast"):
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            lab.theme(theme, 1280)
            lab.shot(f"chatbox-{theme.split()[-1].lower()}-1280.png")
        lab.field.fill("word " * 9000)  # an error bubble too: a message longer than the context window
        lab.field.press("Enter")
        expect(lab.box.locator(".phi3nb-error")).to_have_count(1, timeout=SLOW)
        for theme in ("JupyterLab Dark", "JupyterLab Light"):
            lab.theme(theme, 1280)
            measured = lab.page.evaluate(CONTRAST_JS, BUBBLES)
            roles = {c for m in measured for c in ("user", "assistant", "error") if c in m["element"]}
            assert roles == {"user", "assistant", "error"}, measured
            low = [m for m in measured if m["ratio"] < 4.5]
            assert not low, f"{theme}: below 4.5:1: {low}"
        lab.button("Clear").click()


def test_enter_sends_once_and_leaving_the_box_never_sends(lab):
    """A quick double Enter sends once; text typed afterwards is not sent by clicking elsewhere; Enter on
    text kept after a "still answering" refusal sends it; the busy note is gone when the reply ends."""
    from playwright.sync_api import expect

    with screenshot_on_failure(lab.page, "enter"):
        lab.button("Clear").click()
        lab.set_max_tokens(2000)
        lab.field.fill(LONG)
        lab.field.press("Enter")
        lab.field.press("Enter")  # a quick double Enter
        expect(lab.users).to_have_text([LONG])
        lab.page.wait_for_timeout(500)
        kept = "Typed after the double Enter"
        lab.field.fill(kept)
        lab.field.blur()  # leave the box: its value reaches the kernel, and must not be sent
        lab.page.wait_for_timeout(1500)
        expect(lab.users).to_have_text([LONG])
        expect(lab.busy).to_have_count(0)
        lab.field.press("Enter")  # while the reply streams: refused, the text stays
        expect(lab.busy).to_be_visible()
        expect(lab.field).to_have_value(kept)
        lab.button("Stop").click()
        expect(lab.stats).to_have_count(1, timeout=SLOW)
        expect(lab.stats.last).to_contain_text("stopped")
        expect(lab.busy).to_have_count(0)  # the note was a status, not part of the transcript
        lab.field.press("Enter")  # Enter on the kept text sends it
        expect(lab.users).to_have_text([LONG, kept])
        lab.button("Stop").click()
        expect(lab.stats).to_have_count(2, timeout=SLOW)


def test_a_scrolled_up_reader_keeps_their_place_and_selection_while_a_reply_streams(lab):
    """Scrolled up, the view stays put and a selection survives; back at the bottom, the reply is followed."""
    from playwright.sync_api import expect

    page = lab.page
    with screenshot_on_failure(page, "scroll"):
        lab.button("Clear").click()
        lab.set_max_tokens(2000)
        lab.field.fill(LONG)
        lab.field.press("Enter")
        page.wait_for_function(f"() => {PANE}.scrollHeight > {PANE}.clientHeight + 120", timeout=SLOW)
        first = "document.querySelector('.jp-OutputArea-output .phi3nb-user')"
        before = page.evaluate(f"""() => {{
            const pane = {PANE}; pane.scrollTop = -pane.scrollHeight;  // to the top (column-reverse: negative)
            const range = document.createRange(); range.selectNodeContents({first});
            getSelection().removeAllRanges(); getSelection().addRange(range);
            return {{top: {first}.getBoundingClientRect().top, selected: getSelection().toString(),
                     scroll: pane.scrollTop, length: {PANE}.innerText.length}};
        }}""")
        assert before["selected"].strip() == LONG
        page.wait_for_timeout(1000)  # ~20 re-renders of the streaming reply
        after = page.evaluate(f"""() => ({{top: {first}.getBoundingClientRect().top,
            selected: getSelection().toString(), scroll: {PANE}.scrollTop, length: {PANE}.innerText.length}})""")
        assert after["length"] > before["length"], "the reply stopped streaming: nothing was checked"
        assert abs(after["top"] - before["top"]) < 2, f"the earlier message moved: {before} -> {after}"
        assert after["selected"] == before["selected"], "the selection in an earlier message vanished"

        length = page.evaluate(f"""() => {{ const pane = {PANE}; pane.scrollTop = pane.scrollHeight;  // to the bottom
            return pane.innerText.length; }}""")
        page.wait_for_timeout(1000)
        gap, grown = page.evaluate(f"""() => {{ const pane = {PANE}; return [
            pane.firstElementChild.getBoundingClientRect().bottom - pane.getBoundingClientRect().bottom,
            pane.innerText.length - {length}]; }}""")
        assert grown > 0, "the reply stopped streaming: following it was not checked"
        assert gap < 12, f"at the bottom, the newest text is {gap} px below the pane's edge: not followed"
        if lab.button("Stop").is_enabled():
            lab.button("Stop").click()
        expect(lab.stats).to_have_count(1, timeout=SLOW)


def test_the_stats_line_says_why_a_reply_ended(lab):
    from playwright.sync_api import expect

    with screenshot_on_failure(lab.page, "stats"):
        lab.button("Clear").click()
        lab.set_max_tokens(12)
        lab.field.fill(LONG)
        lab.field.press("Enter")
        expect(lab.stats).to_have_count(1, timeout=SLOW)
        expect(lab.stats.last).to_contain_text("12 tokens")
        expect(lab.stats.last).to_contain_text("max tokens reached")
        lab.box.locator(".widget-slider", has_text="Max tokens").scroll_into_view_if_needed()
        lab.shot("chatbox-advanced.png")
