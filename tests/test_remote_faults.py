"""RemoteChat against a server that misbehaves on purpose (fake_server.py): for each fault, what the attendee
keeps (the history, the typed text) and what they are told; and the API key, which never shows."""

import html
import json
import logging
import socket
import warnings

import pytest

from fake_server import REPLY, FakeServer
from phi3nb import ChatBox, Phi3nbError
from phi3nb.chat.turn import chat_turn
from phi3nb.cli import main
from phi3nb.chat.server_client import HIDDEN, PlainHttpKeyWarning, RemoteChat, plain_http_host

KEY = "workshop-secret-7f3a"
HISTORY = [("First question?", "First answer."), ("Second question?", "Second answer.")]
WAIT = 60  # seconds; only a hang would reach it


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


@pytest.fixture
def box(server):
    box = ChatBox(RemoteChat(server.url, api_key=KEY), max_new_tokens=16)
    box.history = list(HISTORY)
    return box


def send(box, text=None):
    if text is not None:
        box.input.value = text
    box.send.click()
    assert box.wait(WAIT), "the reply did not finish"


@pytest.mark.parametrize("fault, told", [("drop-before", "broke before the reply's first word"),
                                         ("drop-after", "broke after the reply began")])
def test_a_dropped_connection_keeps_the_history_and_the_typed_text(server, box, fault, told):
    server.plan = [fault]
    send(box, "Third question?")
    error = str(box.last_error)
    assert told in error and server.url in error and "Your conversation is kept" in error
    assert box.history == HISTORY and len(server.requests) == 1  # no turn dropped, no retry on fewer turns
    assert box.input.value == "Third question?" and "back in the box" in box.transcript_html()
    assert "Third question?" not in box.transcript_html()  # the failed turn left the transcript; its text is in the box
    send(box)  # Enter again: the same message, with the whole conversation
    assert box.history == HISTORY + [("Third question?", "".join(REPLY))]
    assert len(server.chat_messages()) == 1 + 2 * len(HISTORY) + 1 and box.input.value == ""


def test_an_empty_stream_for_a_conversation_that_fits_drops_nothing(server):
    """llama-cpp-python's over-long signal, from a server that accepts the conversation when asked again."""
    server.plan = ["empty"]
    history = list(HISTORY)
    with pytest.raises(Phi3nbError, match="ended the reply before its first word without saying why") as info:
        chat_turn(RemoteChat(server.url), None, history, "Third?", system="", max_new_tokens=16)
    assert "Your conversation is kept" in str(info.value) and history == HISTORY
    stream, again = (body for _, body in server.requests)
    assert stream["stream"] and not again.get("stream") and again["max_tokens"] == 1
    assert again["messages"] == stream["messages"]  # asked again as it was, not with fewer turns


@pytest.mark.parametrize("refusal", ["llama.cpp", "llama-cpp-python"])
def test_a_refusal_as_too_long_drops_the_oldest_turns(server, box, refusal):
    server.max_messages, server.refusal = 4, refusal  # room for the system prompt, one turn and the new message
    history = HISTORY + [("Third question?", "Third answer.")]
    box.history = list(history)
    send(box, "Fourth question?")
    assert box.last_error is None, box.last_error
    assert box.history == history[2:] + [("Fourth question?", "".join(REPLY))]
    shown = html.unescape(box.transcript_html())
    assert "Dropped 2 oldest turns to fit the chat server's context window (512 tokens, as the server says)" in shown
    assert "4096" not in shown  # not the model's window: the server's is what counted
    assert len(server.chat_messages()) == 4


@pytest.mark.parametrize("listed", [None, 2048], ids=["no size anywhere", "size in the model list"])
def test_a_refusal_that_names_no_size_is_said_to_be_the_servers(listed):
    s = FakeServer()
    try:
        s.max_messages, s.refusal = 4, "unsized"
        s.model_fields = {"max_model_len": listed} if listed else {}
        box = ChatBox(RemoteChat(s.url), max_new_tokens=16)
        box.history = HISTORY + [("Third question?", "Third answer.")]
        send(box, "Fourth question?")
        assert box.last_error is None, box.last_error
        shown = html.unescape(box.transcript_html())
        if listed:
            assert f"to fit the chat server's context window ({listed} tokens, as the server says)" in shown
        else:
            assert "Dropped 2 oldest turns: the chat server refused the longer conversation as over its context" in shown
        assert "4096" not in shown
    finally:
        s.close()


def test_a_refusal_about_something_else_drops_nothing(server):
    server.plan = ["bad-400"]
    history = list(HISTORY)
    with pytest.raises(Phi3nbError, match=r"rejected the request \(400\): Invalid value for 'temperature'") as info:
        chat_turn(RemoteChat(server.url), None, history, "Third?", system="", max_new_tokens=16)
    assert server.url in str(info.value) and history == HISTORY and len(server.requests) == 1


def test_tokens_packed_several_per_chunk_are_counted_from_the_usage_report(server):
    server.plan = ["packed"]
    history = []
    turn = chat_turn(RemoteChat(server.url), None, history, "Count to eight.", system="", max_new_tokens=8)
    assert server.requests[0][1]["stream_options"] == {"include_usage": True}
    assert (turn.tokens, turn.finish) == (8, "length") and turn.stats().startswith("8 tokens")
    assert history == [("Count to eight.", "one two three four five six seven eight")]


def test_tokens_packed_several_per_chunk_without_a_usage_report_keep_the_reply_and_count_chunks(server):
    """A reply that ended at the max_tokens phi3nb asked for is kept, however the server packed it; without the
    server's count, the stats line says chunks, not tokens."""
    server.plan, server.usage = ["packed"], False
    history = []
    turn = chat_turn(RemoteChat(server.url), None, history, "Count to eight.", system="", max_new_tokens=8)
    assert turn.finish == "length" and turn.reply == "one two three four five six seven eight"
    assert history == [("Count to eight.", turn.reply)]
    stats = turn.stats()
    assert stats.startswith("2 chunks (the server sent no token count)") and "chunks/s" in stats
    assert "8 tokens" not in stats and "2 tokens" not in stats and "tokens/s" not in stats
    assert stats.endswith("max tokens reached")


def test_the_terminal_chat_keeps_the_history_across_a_dropped_connection(server, monkeypatch, capsys, typed):
    server.plan = ["ok", "drop-before", "ok"]
    typed("One?", "Two?", "Three?")
    assert main(["chat", "--url", server.url, "--max-new-tokens", "16", "--system", "Be brief."]) == 0
    assert "broke before the reply's first word" in capsys.readouterr().out
    assert server.chat_messages() == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "One?"},
                                      {"role": "assistant", "content": "".join(REPLY)},
                                      {"role": "user", "content": "Three?"}]


def test_an_error_that_echoes_the_key_does_not_show_it(server, monkeypatch, capsys, caplog, typed):
    caplog.set_level(logging.DEBUG)
    server.otherwise = "echo-500"
    box = ChatBox(RemoteChat(server.url, api_key=KEY), max_new_tokens=16)
    send(box, "Hi")
    assert f"Authorization: Bearer {HIDDEN}" in str(box.last_error)
    assert KEY not in str(box.last_error) and KEY not in box.transcript_html() and KEY not in repr(box.widget)
    monkeypatch.setenv("PHI3NB_API_KEY", KEY)
    typed("Hi")
    assert main(["chat", "--url", server.url, "--max-new-tokens", "16"]) == 0
    out = capsys.readouterr()
    assert HIDDEN in out.out and KEY not in out.out + out.err
    assert any(r.name.startswith("openai") for r in caplog.records)  # the client's debug log was captured
    assert [r.getMessage() for r in caplog.records if KEY in r.getMessage()] == []


def test_a_key_sent_unencrypted_to_another_machine_is_warned_about_once():
    name = socket.gethostname()  # this machine, by a name that could be any machine's
    s = FakeServer(bind=socket.gethostbyname(name), name=name)
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            remote = RemoteChat(s.url, api_key=KEY)
            history = []
            for text in ("One?", "Two?"):
                chat_turn(remote, None, history, text, system="", max_new_tokens=16)
            RemoteChat(s.url)  # no key, nothing to warn about
        warned = [str(w.message) for w in seen if issubclass(w.category, PlainHttpKeyWarning)]
        assert len(warned) == 1 and name in warned[0] and "http://" in warned[0] and KEY not in warned[0]
        assert len(history) == 2
    finally:
        s.close()
    assert plain_http_host(f"http://{name}:8000/v3") == name
    for here in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1",
                 "https://example.org/v1"):
        assert plain_http_host(here) is None, here


def test_the_notebook_outputs_never_show_the_key(server, monkeypatch):
    """A notebook run against a server that echoes the key in its errors: the saved outputs never hold it."""
    import nbformat
    from nbclient import NotebookClient

    server.otherwise = "echo-500"
    monkeypatch.setenv("PHI3NB_API_KEY", KEY)  # as README's Workshops section says to give it
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        f"import phi3nb\nchat = phi3nb.RemoteChat({server.url!r})\nchat",
        "box = phi3nb.ChatBox(chat, max_new_tokens=8)\nbox.input.value = 'Hi'\nbox.send.click()\n"
        "assert box.wait(60)\nprint(box.transcript_html())\nbox",
        "chat.stream_reply([{'role': 'user', 'content': 'Hi'}], max_new_tokens=8)")])
    NotebookClient(nb, kernel_name="python3", timeout=WAIT, allow_errors=True).execute()
    saved = json.dumps(nbformat.from_dict(nb))
    assert KEY not in saved
    assert HIDDEN in json.dumps(nb.cells[1].outputs) and HIDDEN in json.dumps(nb.cells[2].outputs)
    assert nb.cells[2].outputs[-1]["ename"] == "Phi3nbError"
