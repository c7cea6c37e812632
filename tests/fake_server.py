"""A fake OpenAI-compatible chat server on this machine that misbehaves on purpose, for RemoteChat's tests.

Each chat request takes the next behaviour from `plan` (then `otherwise`, "ok" unless set) and is recorded
with its headers. The behaviours are what real servers and networks do:
- "ok": a streamed reply of REPLY, one token per chunk, and a usage report when asked for one;
- "drop-before" / "drop-after": the connection breaks after the headers / after the first word;
- "packed": 8 tokens in 2 chunks (as servers that batch their output send them), then the usage report;
- "empty": llama-cpp-python's answer to a streamed prompt over its context: 200, then an empty event stream;
- "bad-400": a 400 about something else than the length; "echo-500": a 500 that echoes the Authorization header.
With `usage = False` it never sends a usage report, even when asked (as some servers do). With `max_messages` set, a longer conversation is refused as llama.cpp's server refuses it (400,
exceed_context_size_error) or, with `refusal="llama-cpp-python"`, as llama-cpp-python's does (the empty stream,
and its 400 context_length_exceeded when asked unstreamed), or with `refusal="unsized"` by a 400 that names no
size. `model_fields` adds fields to the model list's entry (e.g. vLLM's max_model_len).
"""

import http.server
import json
import socket
import threading
import time
import urllib.request

REPLY = ["Hello", " there", "!"]


class FakeServer:
    def __init__(self, bind="127.0.0.1", name=None):
        self.plan, self.requests, self.model_headers = [], [], []
        self.otherwise = "ok"  # the behaviour once the plan is used up
        self.max_messages, self.refusal = None, "llama.cpp"
        self.usage = True  # False: no usage report, even when asked for one
        self.model_fields = {}  # more fields for the model list's one entry
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.model_headers.append({k.lower(): v for k, v in self.headers.items()})
                self._json(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "test",
                                                             **server.model_fields}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                mode = server.plan.pop(0) if server.plan else server.otherwise
                if server.max_messages is not None and len(body["messages"]) > server.max_messages:
                    mode = {"llama-cpp-python": "empty", "unsized": "unsized"}.get(server.refusal, "too-long")
                if mode == "unsized":
                    return self._json(400, {"error": {"code": "context_length_exceeded", "type": "invalid_request_error",
                                                      "message": "The prompt is too long for this model."}})
                if mode == "too-long":
                    return self._json(400, {"error": {
                        "code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 900, "n_ctx": 512,
                        "message": "request (900 tokens) exceeds the available context size (512 tokens), "
                                   "try increasing it"}})
                if mode == "bad-400":
                    return self._json(400, {"error": {"message": "Invalid value for 'temperature': the maximum "
                                                                 "is 2.", "type": "invalid_request_error"}})
                if mode == "echo-500":
                    return self._json(500, {"error": {"message": "upstream failed for the request with "
                                                                 f"Authorization: {self.headers['Authorization']}"}})
                if not body.get("stream"):
                    return self._unstreamed(mode)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if mode == "drop-before":
                    return self._drop()
                usage = server.usage and (body.get("stream_options") or {}).get("include_usage")
                if mode == "packed":
                    self._event(["one two three four", " five six seven eight"], "length", usage and 8)
                elif mode == "drop-after":
                    self._chunk(REPLY[0])
                    return self._drop()
                elif mode == "ok":
                    self._event(REPLY, "stop", usage and len(REPLY))
                self._write(b"")  # the stream's end: "empty" ends here with no event at all

            def _unstreamed(self, mode):
                if mode == "empty":  # llama-cpp-python's unstreamed refusal
                    return self._json(400, {"error": {
                        "code": "context_length_exceeded", "type": "invalid_request_error", "param": "messages",
                        "message": "This model's maximum context length is 512 tokens. However, you requested "
                                   "901 tokens (900 in the messages, 1 in the completion). Please reduce the "
                                   "length of the messages or completion."}})
                self._json(200, {"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
                                 "choices": [{"index": 0, "finish_reason": "length",
                                              "message": {"role": "assistant", "content": REPLY[0]}}],
                                 "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}})

            def _event(self, pieces, finish, usage):
                for piece in pieces:
                    self._chunk(piece)
                self._chunk(None, finish)
                if usage:
                    self._data({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                                "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": usage,
                                                         "total_tokens": 9 + usage}})
                self._write(b"data: [DONE]\n\n")

            def _chunk(self, piece, finish=None):
                delta = {"content": piece} if piece is not None else {}
                self._data({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

            def _data(self, obj):
                self._write(f"data: {json.dumps(obj)}\n\n".encode())

            def _write(self, data):
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _drop(self):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _json(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = http.server.ThreadingHTTPServer((bind, 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://{name or bind}:{self._httpd.server_address[1]}/v1"
        threading.Thread(target=self._httpd.serve_forever, daemon=True, name="fake-openai").start()
        deadline = time.monotonic() + 30
        while True:  # serving once it answers the model list
            try:
                urllib.request.urlopen(f"http://{bind}:{self._httpd.server_address[1]}/v1/models", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
        self.model_headers.clear()

    def chat_messages(self, i=-1) -> list:
        """The messages the i-th chat request carried."""
        return self.requests[i][1]["messages"]

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()
