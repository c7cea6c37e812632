"""A chat model on a server the room shares: OpenVINO Model Server, or any server that speaks the
OpenAI chat-completions API (llama.cpp's, vLLM's), streamed.

The server owns the tokenizer, the chat template and the context window, so the conversation goes
as role/content messages. The API key stays inside the client: never printed, logged or in repr,
and hidden from whatever a server echoes back.
"""

import ipaddress
import os
import queue
import re
import threading
import time
import warnings
from contextlib import contextmanager
from urllib.parse import urlparse

from ..errors import Phi3nbError
from ..run.generation import check_sampling

API_KEY_ENV = "PHI3NB_API_KEY"
STOP_POLL_S = 0.05  # how often a reply waiting on the server checks Stop
HIDDEN = "[API key hidden]"  # what an echoed key is shown as
KEPT = "Your conversation is kept: send the message again."
# How a server states that a prompt is over its context window: llama.cpp's error type and the OpenAI
# code (llama-cpp-python and vLLM use it), else words to that effect in the message of its 400.
CONTEXT_CODES = ("exceed_context_size_error", "context_length_exceeded")
CONTEXT_MESSAGE = re.compile(r"context (length|size|window)[^.]*(exceed|too long|larger than)|"
                             r"(exceed|maximum|larger than)[^.]*context (length|size|window)", re.IGNORECASE)
# The window's size in such a message: llama.cpp's "the available context size (512 tokens)", the OpenAI style
# "maximum context length is 512 tokens" (llama-cpp-python, vLLM).
CONTEXT_SIZE = re.compile(r"context (?:length|size|window)\D{0,20}?(\d[\d,]*) tokens", re.IGNORECASE)


class Chunks(int):
    """The number of streamed chunks, standing in for the token count a server did not report: a chunk holds one
    token or more (servers that batch their output pack several), so it is no token count."""


class ContextTooLong(Phi3nbError):
    """The server refused the conversation as too long: chat_turn drops the oldest turn and retries.
    `window`: the server's context window in tokens where its refusal says it, else None."""

    window = None


class PlainHttpKeyWarning(UserWarning):
    """An API key is about to cross the network unencrypted."""


class RemoteChat:
    """`RemoteChat("http://host:8000/v3")`: a chat backend for ChatBox, chat_turn and `phi3nb chat --url`.

    `model=None` takes the server's only model; `api_key=None` reads $PHI3NB_API_KEY.
    """

    def __init__(self, base_url, model=None, api_key=None, timeout=60.0):
        from openai import OpenAI

        self.base_url = str(base_url).rstrip("/")
        key = api_key or os.environ.get(API_KEY_ENV)
        self._client = OpenAI(base_url=self.base_url, api_key=key or "none", timeout=timeout, max_retries=1)
        self._keyed = bool(key)  # the key itself lives in the client only
        host = plain_http_host(self.base_url)
        if key and host:
            warnings.warn(f"The API key goes to {host} unencrypted (plain http://): anyone on the network between "
                          "can read it. Use https:// if the server offers it, or an SSH tunnel to 127.0.0.1.",
                          PlainHttpKeyWarning, stacklevel=2)
        self.timeout = timeout
        self.model = None  # until the server has said what it serves
        self.context_window = None  # the server's window, where its model list says it (vLLM's max_model_len)
        self.model = self._served_model(model)

    def __repr__(self):
        return f"RemoteChat({self.base_url!r}, model={self.model!r})"

    def _served_model(self, wanted) -> str:
        """Ask the server once what it serves: a wrong URL, key or name fails here, not mid-workshop.
        (Some servers, llama.cpp's among them, answer any name with their one model.)"""
        with self._errors():
            served = list(self._client.models.list())
        names = [m.id for m in served]
        chosen = names[0] if wanted is None and len(names) == 1 else wanted if wanted in names else None
        if chosen is not None:
            window = getattr(served[names.index(chosen)], "max_model_len", None)  # the serving window, not training's
            self.context_window = window if isinstance(window, int) and window > 0 else None
            return chosen
        ask = f"has no model {wanted!r}" if wanted else f"serves {len(names)} models"
        raise Phi3nbError(self._hide(f"The chat server at {self.base_url} {ask}; it serves: "
                                     f"{', '.join(names) or 'nothing'}. Pass model=NAME (or --model NAME) with one "
                                     "of those."))

    def stream_reply(self, messages, *, max_new_tokens, on_text=None, stop_event=None, **sampling):
        """(reply, tokens, first-chunk time, finish) for `messages`; Stop ends the reply at once, even
        before a busy server's first word, and the stream is closed as soon as the server answers.

        `tokens` is the server's own count when it reports usage, else the number of chunks as Chunks (an int
        that says it is no token count). A stream that breaks raises Phi3nbError; only a refusal the server
        states as too long raises ContextTooLong.
        """
        settings = check_sampling(max_new_tokens, sampling)
        body = {"max_tokens": settings["max_new_tokens"],
                "temperature": settings.get("temperature", 0.0) if settings["do_sample"] else 0.0}
        extra = {}
        if settings["do_sample"]:
            body["top_p"] = settings["top_p"]
            if settings["top_k"]:
                extra["top_k"] = settings["top_k"]
        if "repetition_penalty" in settings:  # OVMS's name; llama.cpp's server calls it repeat_penalty
            extra.update(repetition_penalty=settings["repetition_penalty"], repeat_penalty=settings["repetition_penalty"])
        events, cancel = queue.Queue(), threading.Event()
        threading.Thread(target=self._pump, args=(messages, extra, body, events, cancel), daemon=True,
                         name="phi3nb-remote").start()
        parts, chunks, counted, first, finish = [], 0, None, None, None
        try:
            while True:
                if stop_event is not None and stop_event.is_set():
                    finish = "stopped"
                    break
                try:
                    kind, value = events.get(timeout=STOP_POLL_S)
                except queue.Empty:
                    continue  # a busy server has not answered yet: Stop still works meanwhile
                if kind == "error":
                    raise value
                if kind == "end":
                    break
                if kind == "usage":
                    counted = value
                    continue
                piece, reason = value
                if piece:
                    chunks += 1
                    first = first or time.perf_counter()
                    parts.append(piece)
                    if on_text is not None:
                        on_text(piece)
                if reason:
                    finish = "length" if reason == "length" else "eos"
        finally:
            cancel.set()  # however the reply ended here, the reader lets go of the stream
        tokens = counted if counted is not None else Chunks(chunks)
        if finish is None:
            so_far = f"{tokens} tokens" if counted is not None else f"{chunks} chunks"
            raise Phi3nbError(f"The chat server at {self.base_url} ended the reply after {so_far} without "
                              f"saying why (its log says more). {KEPT}")
        return "".join(parts), tokens, first, finish

    def _pump(self, messages, extra, body, events, cancel):
        """Read the reply's stream into `events` ((piece, finish reason) chunks, the usage, then "end", or one
        "error"), in its own thread so that Stop need not wait for a queued server's first word; `cancel`
        closes the stream."""
        try:
            with self._errors():
                stream = self._client.chat.completions.create(
                    model=self.model, messages=messages, stream=True, stream_options={"include_usage": True},
                    extra_body=extra or None, **body)
        except Exception as e:  # noqa: BLE001 - raised again in stream_reply, on the caller's thread
            events.put(("error", e))
            return
        began = False  # a word or a finish reason has come
        try:
            for chunk in stream:
                if cancel.is_set():
                    return
                if getattr(chunk, "usage", None) is not None and chunk.usage.completion_tokens is not None:
                    events.put(("usage", chunk.usage.completion_tokens))
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                piece = choice.delta.content if choice.delta else None
                began = began or bool(piece) or bool(choice.finish_reason)
                events.put(("chunk", (piece, choice.finish_reason)))
        except Exception as e:  # noqa: BLE001 - whatever broke the stream, the caller hears it as an error
            if not cancel.is_set():
                events.put(("error", self._broken(e, began)))
            return
        finally:
            stream.close()
        if not began and not cancel.is_set():
            events.put(("error", self._empty_stream(messages, extra, body)))
            return
        events.put(("end", None))

    def _broken(self, error, began) -> Phi3nbError:
        """The error for a stream that broke: the server's words if it sent an error event, else the
        connection's. Only the server saying the conversation is too long makes it ContextTooLong."""
        import openai

        where = f"The chat server at {self.base_url}"
        if isinstance(error, openai.APIError) and not isinstance(error, openai.APIConnectionError):  # its event
            if not began and self._too_long(error):
                return self._refused_as_too_long(error)
            return Phi3nbError(f"{where} stopped the reply with an error: {self._detail(error)}. {KEPT}")
        cause = error.__cause__ or error  # openai wraps the transport's error
        when = "after the reply began" if began else "before the reply's first word"
        return Phi3nbError(self._hide(f"The connection to the chat server at {self.base_url} broke {when} "
                                      f"({type(cause).__name__}: {cause}): the server may have restarted, or the "
                                      f"network dropped. {KEPT}"))

    def _empty_stream(self, messages, extra, body) -> Phi3nbError:
        """A stream that ended cleanly with no word and no finish reason. llama-cpp-python's server answers a
        prompt over its context so (200, then an empty event stream); unstreamed, the same request gets its
        400 that says so. So ask once more, unstreamed, for one token, and let the server's answer decide."""
        try:
            with self._errors():
                self._client.chat.completions.create(model=self.model, messages=messages,
                                                     extra_body=extra or None, **{**body, "max_tokens": 1})
        except Phi3nbError as e:  # ContextTooLong only if the server says so
            return e
        return Phi3nbError(f"The chat server at {self.base_url} ended the reply before its first word without "
                           f"saying why, though it accepts the conversation (its log says more). {KEPT}")

    @staticmethod
    def _too_long(error) -> bool:
        """True if the server's error says the prompt is over its context window."""
        body = getattr(error, "body", None)
        fields = [body.get("code"), body.get("type")] if isinstance(body, dict) else []
        return (any(f in CONTEXT_CODES for f in fields if isinstance(f, str))
                or bool(CONTEXT_MESSAGE.search(str(getattr(error, "message", "") or error))))

    def _refused_as_too_long(self, error, status="") -> ContextTooLong:
        """The one error that lets chat_turn drop the oldest turns: the server said the conversation is too long."""
        refused = ContextTooLong(f"The chat server at {self.base_url} refused the conversation as longer than its "
                                 f"context window{status}: {self._detail(error)}. If it is, clear the chat history.")
        refused.window = self._stated_window(error)
        return refused

    @staticmethod
    def _stated_window(error):
        """The context window a server's refusal states (llama.cpp's n_ctx field, or its words), else None."""
        body = getattr(error, "body", None)
        n_ctx = body.get("n_ctx") if isinstance(body, dict) else None
        if isinstance(n_ctx, int) and not isinstance(n_ctx, bool) and n_ctx > 0:
            return n_ctx
        found = CONTEXT_SIZE.search(str(getattr(error, "message", "") or error))
        return int(found.group(1).replace(",", "")) if found else None

    def _hide(self, text) -> str:
        """`text` with the API key replaced, should a server echo it back (some put headers in their errors)."""
        key = self._client.api_key if self._keyed else None
        return text.replace(key, HIDDEN) if key else text

    def _detail(self, error) -> str:
        """The first line of the server's error message, without the key."""
        body = getattr(error, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        return self._hide(str(message or error.message or error).strip().splitlines()[0][:300])

    @contextmanager
    def _errors(self):
        """The openai package's errors as Phi3nbError naming the server, with what to do."""
        import openai

        where = f"the chat server at {self.base_url}"
        try:
            yield
        except openai.APITimeoutError:
            raise Phi3nbError(f"{where} did not answer within {self.timeout:.0f} s (asked twice): it may be overloaded; "
                              "try again, or ask the host to check it.") from None
        except openai.APIConnectionError:
            raise Phi3nbError(f"Cannot reach {where}: check the URL (it usually ends in /v1 or /v3) and that the "
                              "server is running.") from None
        except openai.AuthenticationError:
            raise Phi3nbError(f"{where} refused the API key (401): set the key the host gave you in "
                              f"${API_KEY_ENV} (or api_key=...).") from None
        except openai.NotFoundError:
            if self.model is None:  # the model list itself is not there: the path is wrong
                raise Phi3nbError(f"{where} has no list of models (404): check the URL's path, which usually "
                                  "ends in /v1 (llama.cpp, vLLM) or /v3 (OpenVINO Model Server).") from None
            raise Phi3nbError(f"{where} has no model {self.model!r} (404): leave the model out to use the "
                              "server's only model, or ask the host for its name.") from None
        except openai.BadRequestError as e:
            if self._too_long(e):
                raise self._refused_as_too_long(e, " (400)") from None
            raise Phi3nbError(f"{where} rejected the request (400): {self._detail(e)}.") from None
        except openai.APIStatusError as e:
            raise Phi3nbError(f"{where} answered with an error ({e.status_code}): {self._detail(e)}.") from None


def plain_http_host(url) -> str | None:
    """The host an http:// URL names, unless it is this machine by address (127.x, ::1) or as localhost."""
    parts = urlparse(url)
    host = parts.hostname or ""
    if parts.scheme != "http" or host == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(host).is_loopback else host
    except ValueError:  # a name: it may resolve anywhere
        return host
