"""setup_env.py's choice of torch index: PyTorch's CPU index when it answers, pip's default otherwise."""

import http.server
import importlib.util
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "setup_env.py"


@pytest.fixture(scope="module")
def setup_env():
    spec = importlib.util.spec_from_file_location("setup_env", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def index():
    """A package index on loopback that lists torch."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/simple/torch/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


def test_the_cpu_index_is_used_when_it_answers(setup_env, index):
    assert setup_env.torch_args(index) == ["torch==2.13.0", "--index-url", index]


def test_an_unreachable_index_falls_back_to_pips_default_and_says_so(setup_env, index, capsys):
    gone = index.rsplit(":", 1)[0] + ":9/simple"  # port 9 (discard) is closed on loopback
    assert setup_env.torch_args(gone) == ["torch==2.13.0"]
    assert "out of reach" in capsys.readouterr().out
