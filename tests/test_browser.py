"""The tutorial notebook in a real JupyterLab, driven by headless Chromium: Run All, then two chat turns,
one by Send, one by Enter.

Uses the embedded SmolLM2 when available (a readable screenshot), else the tiny random Phi-3.
Leaves test-artifacts/chatbox-two-turns.png at the repo root.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
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
           "JUPYTER_RUNTIME_DIR": str(root.parent / "jupyter-runtime")}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           f"--LabApp.workspaces_dir={root.parent / 'workspaces'}", "--ServerApp.port_retries=0"]
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


@pytest.fixture(scope="module")
def chat_model(request):
    """(the notebook's PHI3NB_MODEL_ID, is it the real embedded chat model)."""
    try:
        phi3nb.prepare_embedded_model()
        return "embedded", True
    except phi3nb.Phi3nbError:
        return str(request.getfixturevalue("tiny_phi3_hf")), False


def test_two_turn_chat_in_jupyterlab(chat_model, tmp_path):
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        pytest.skip(f"playwright is not installed: {e}")
    model_id, real = chat_model
    root = tmp_path / "lab"
    root.mkdir()
    tutorial_copy(root)
    params = {"PHI3NB_MODEL_ID": model_id, "PHI3NB_MODEL_DIR": str(tmp_path / "export"),
              "PHI3NB_MAX_NEW_TOKENS": "32"}
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(root, port, token, tmp_path / "lab.log", params)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            try:
                chat_two_turns(page, port, token, real)
            except Exception:
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "chatbox-failure.png"))
                raise
            finally:
                browser.close()
    finally:
        stop_lab(lab)
    assert SCREENSHOT.stat().st_size > 10_000


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


def chat_two_turns(page, port, token, real):
    """Run the notebook, ask by Send, ask again by Enter, check both replies, take the screenshot."""
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{port}/lab/tree/chat.ipynb?token={token}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=SLOW)
    run_all_cells(page)
    news = page.get_by_role("button", name="No", exact=True)  # "get notified about Jupyter news?"
    if news.count():
        news.first.click()

    box = page.locator(".jp-OutputArea-output .widget-vbox").first
    field = box.locator(".widget-text input")
    field.wait_for(timeout=SLOW)
    replies = box.locator(".phi3nb-assistant")
    stats = box.get_by_text("tokens/s")

    question1 = "What is the capital of France?" if real else "hello"
    field.fill(question1)
    box.get_by_role("button", name="Send").click()
    expect(stats).to_have_count(1, timeout=SLOW)
    expect(box.locator(".phi3nb-user")).to_have_text([question1])
    first = replies.nth(0).inner_text()

    question2 = "And of Germany?" if real else "again"
    field.fill(question2)
    field.press("Enter")  # the second turn goes by Enter
    expect(stats).to_have_count(2, timeout=SLOW)
    expect(box.locator(".phi3nb-user")).to_have_text([question1, question2])
    second = replies.nth(1).inner_text()
    assert first.strip() and second.strip()
    if real:
        assert "Paris" in first and "Berlin" in second
    expect(box.locator(".lm-Widget.jupyter-button:has-text('Send')")).to_be_enabled()

    box.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
