"""RemoteChat against a real OpenAI-compatible server on loopback: llama.cpp's, serving the embedded
model's GGUF (the same weights the room's OpenVINO Model Server would serve as an OpenVINO folder)."""

import importlib.util
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from phi3nb import ChatBox, Phi3nbError
from phi3nb.chat.turn import chat_turn
from phi3nb.cli import main
from phi3nb.chat.server_client import RemoteChat

KEY = "workshop-secret-7f3a"  # the server's API key in these tests; it must never be shown


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """llama.cpp's server on 127.0.0.1 with an API key, 2 threads, a 1024-token context, and requests queued
    rather than interrupted (its default: a new request cuts off the one streaming)."""
    from phi3nb.export.embedded import gguf_path

    if importlib.util.find_spec("llama_cpp") is None:  # setup_env.py --test could not build it (Windows, macOS)
        pytest.skip("llama.cpp's server (llama-cpp-python) is not installed: its build needs MSVC on Windows, "
                    "Xcode's command line tools on macOS; install them and run `setup_env.py --test` again")

    port, log = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--host", "127.0.0.1",
           "--port", str(port), "--api_key", KEY, "--n_ctx", "1024", "--n_threads", "2",
           "--model_alias", "smollm2", "--interrupt_requests", "False"]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"llama.cpp's server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    proc.wait(30)


@pytest.fixture
def remote(server):
    return RemoteChat(server, api_key=KEY)


def test_the_servers_only_model_is_found_and_the_key_never_shows(remote):
    assert remote.model == "smollm2"  # the server takes only KEY: it was sent
    assert remote._client.api_key == KEY  # by the openai client, where it lives, and nowhere else:
    assert [name for name, value in vars(remote).items() if name != "_client" and KEY in repr(value)] == []
    assert KEY not in repr(remote) and KEY not in repr(remote._client)


def test_two_chat_box_turns_the_second_carrying_the_first(remote, monkeypatch):
    sent = []
    real = remote.stream_reply
    monkeypatch.setattr(remote, "stream_reply", lambda messages, **kw: sent.append(messages) or real(messages, **kw))
    box = ChatBox(remote, max_new_tokens=24)
    for text in ("What is the capital of France?", "And of Germany?"):
        box.input.value = text
        box.send.click()
        assert box.wait(120) and box.last_error is None, box.last_error
    assert [q for q, _ in box.history] == ["What is the capital of France?", "And of Germany?"]
    assert all(a.strip() for _, a in box.history)
    assert sent[1][1:3] == [{"role": "user", "content": "What is the capital of France?"},
                            {"role": "assistant", "content": box.history[0][1]}]
    # llama-cpp-python's server streams no usage report: the stats line counts chunks and says so
    assert "chunks/s" in box.transcript_html() and "the server sent no token count" in box.transcript_html()
    assert KEY not in box.transcript_html()


def test_stop_closes_the_stream_within_a_token(remote):
    stop, pieces = threading.Event(), []

    def on_text(piece):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()

    history = []
    turn = chat_turn(remote, None, history, "Write a long story about a dragon.", system="Be verbose.",
                     max_new_tokens=300, on_text=on_text, stop_event=stop)
    assert turn.finish == "stopped" and len(pieces) == 3 and turn.reply == "".join(pieces)
    assert history == [("Write a long story about a dragon.", turn.reply)] and "stopped" in turn.stats()


def test_stop_works_while_the_server_is_busy_with_someone_else(remote):
    """The server queues requests: Stop must not wait for the attendee ahead to finish."""
    ahead_stop = threading.Event()
    ahead = threading.Thread(target=remote.stream_reply, daemon=True,
                             args=([{"role": "user", "content": "Write a very long story about a dragon."}],),
                             kwargs={"max_new_tokens": 600, "stop_event": ahead_stop})
    ahead.start()
    time.sleep(0.5)  # the first request holds the server
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.perf_counter()
    reply, chunks, first, finish = remote.stream_reply([{"role": "user", "content": "Hello!"}], max_new_tokens=20,
                                                       stop_event=stop)
    waited, busy = time.perf_counter() - started, ahead.is_alive()
    ahead_stop.set()
    ahead.join(60)
    assert finish == "stopped" and waited < 1.5, f"Stop took {waited:.1f} s"
    assert (reply, chunks, first) == ("", 0, None)
    assert busy, "the first request ended before the second was stopped: the server was never busy"


def test_the_token_limit_is_reported(remote):
    turn = chat_turn(remote, None, [], "Count from one to fifty in words.", system="", max_new_tokens=5)
    assert turn.finish == "length" and turn.tokens <= 5 and turn.stats().endswith("max tokens reached")


def test_a_conversation_over_the_servers_context_drops_the_oldest_turns(remote):
    history = [(f"Question {i}: " + "tell me more " * 60, "An answer. " * 40) for i in range(4)]
    before = list(history)
    turn = chat_turn(remote, None, history, "Thanks!", system="", max_new_tokens=8)
    assert turn.dropped >= 1 and history[:-1] == before[turn.dropped:] and turn.reply.strip()


def test_a_message_over_the_servers_context_keeps_the_history(remote):
    history = [("hello", "Hi there!")]
    with pytest.raises(Phi3nbError, match="clear the chat history"):
        chat_turn(remote, None, history, "tell me more " * 900, system="", max_new_tokens=8)
    assert history == [("hello", "Hi there!")]


def test_sampling_settings_are_accepted(remote):
    turn = chat_turn(remote, None, [], "Name a colour.", system="", max_new_tokens=8, temperature=0.8,
                     top_p=0.9, top_k=40, repetition_penalty=1.1)
    assert turn.reply.strip()


def test_wrong_key_wrong_model_and_a_server_that_is_down_say_what_to_do(server):
    with pytest.raises(Phi3nbError, match=r"refused the API key \(401\)") as info:
        RemoteChat(server, api_key="bad-key-123")
    assert server in str(info.value) and "bad-key-123" not in str(info.value)
    with pytest.raises(Phi3nbError, match=r"has no model 'nope'; it serves: smollm2") as info:
        RemoteChat(server, model="nope", api_key=KEY)
    assert server in str(info.value)
    no_v1 = server.rsplit("/v1", 1)[0]
    with pytest.raises(Phi3nbError, match=r"has no list of models \(404\): check the URL's path") as info:
        RemoteChat(no_v1, api_key=KEY)
    assert no_v1 in str(info.value)
    down = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(Phi3nbError, match="Cannot reach") as info:
        RemoteChat(down)  # asks the server for its model
    assert down in str(info.value)


def test_a_server_that_does_not_answer_in_time(tmp_path):
    """A socket that accepts and never answers: the timeout is named, not a hang."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        with pytest.raises(Phi3nbError, match=r"did not answer within 2 s") as info:
            RemoteChat(url, timeout=2)
        assert url in str(info.value)


def test_terminal_chat_with_url(server, monkeypatch, capsys, typed):

    monkeypatch.setenv("PHI3NB_API_KEY", KEY)
    typed("Say hi.")
    assert main(["chat", "--url", server, "--max-new-tokens", "8"]) == 0
    out = capsys.readouterr().out
    assert "chatting with smollm2" in out and "chunks/s" in out and KEY not in out


def test_a_room_of_attendees_against_the_server(server, monkeypatch, capfd):
    monkeypatch.setenv("PHI3NB_API_KEY", KEY)  # capfd: phi3nb bench prints from a process of its own
    assert main(["bench", "--room", "1,3", "--url", server, "--room-turns", "1", "--chat-tokens", "8"]) == 0
    table = capfd.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| 1 |") or line.startswith("| 3 |")]
    assert len(rows) == 2 and "| 1/1 |" in rows[0] and "| 3/3 |" in rows[1]
    assert rows[1].endswith("| 0 |")  # no errors


def test_the_room_bench_only_targets_this_machine(capfd):
    assert main(["bench", "--room", "4", "--url", "http://example.org:8000/v3"]) == 2
    assert "only runs against a server on this machine" in capfd.readouterr().err
