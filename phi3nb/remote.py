"""A chat model on a server the room shares: OpenVINO Model Server, or any server that speaks the
OpenAI chat-completions API (llama.cpp's, vLLM's), streamed.

The server owns the tokenizer, the chat template and the context window, so the conversation goes
as role/content messages. The API key stays inside the client: never printed, logged or in repr.
"""

import os
import queue
import threading
import time
from contextlib import contextmanager

from .errors import Phi3nbError
from .generation import check_sampling

API_KEY_ENV = "PHI3NB_API_KEY"
STOP_POLL_S = 0.05  # how often a reply waiting on the server checks Stop
# How servers say a prompt is over their context window (llama.cpp, vLLM, OVMS).
CONTEXT_WORDS = ("context", "exceed", "too long", "maximum")


class ContextTooLong(Phi3nbError):
    """The server refused the conversation as too long: chat_turn drops the oldest turn and retries."""


class RemoteChat:
    """`RemoteChat("http://host:8000/v3")`: a chat backend for ChatBox, chat_turn and `phi3nb chat --url`.

    `model=None` takes the server's only model; `api_key=None` reads $PHI3NB_API_KEY.
    """

    def __init__(self, base_url, model=None, api_key=None, timeout=60.0):
        from openai import OpenAI

        self.base_url = str(base_url).rstrip("/")
        self._client = OpenAI(base_url=self.base_url, api_key=api_key or os.environ.get(API_KEY_ENV) or "none",
                              timeout=timeout, max_retries=1)
        self.timeout = timeout
        self.model = None  # until the server has said what it serves
        self.model = self._served_model(model)

    def __repr__(self):
        return f"RemoteChat({self.base_url!r}, model={self.model!r})"

    def _served_model(self, wanted) -> str:
        """Ask the server once what it serves: a wrong URL, key or name fails here, not mid-workshop.
        (Some servers, llama.cpp's among them, answer any name with their one model.)"""
        with self._errors():
            names = [m.id for m in self._client.models.list()]
        if wanted is None and len(names) == 1:
            return names[0]
        if wanted in names:
            return wanted
        ask = f"has no model {wanted!r}" if wanted else f"serves {len(names)} models"
        raise Phi3nbError(f"The chat server at {self.base_url} {ask}; it serves: {', '.join(names) or 'nothing'}. "
                          "Pass model=NAME (or --model NAME) with one of those.")

    def stream_reply(self, messages, *, max_new_tokens, on_text=None, stop_event=None, **sampling):
        """(reply, chunks, first-chunk time, finish) for `messages`; Stop ends the reply at once, even
        before a busy server's first word, and the stream is closed as soon as the server answers."""
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
        parts, chunks, first, finish = [], 0, None, None
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
        if finish is None and chunks == 0:  # llama.cpp's server, for one, breaks the stream off
            raise ContextTooLong(f"The chat server at {self.base_url} closed the reply before its first word; "
                                 "the usual cause is a conversation longer than its context window: clear the "
                                 "chat history (the server's log says more).")
        if finish is None:
            raise Phi3nbError(f"The chat server at {self.base_url} broke off the reply after {chunks} tokens "
                              "without saying why (its log says more): try again.")
        return "".join(parts), chunks, first, finish

    def _pump(self, messages, extra, body, events, cancel):
        """Read the reply's stream into `events` ((piece, finish reason) chunks, then "end"), in its own thread
        so that Stop need not wait for a queued server's first word; `cancel` closes the stream."""
        import httpx
        import openai

        try:
            with self._errors():
                stream = self._client.chat.completions.create(model=self.model, messages=messages, stream=True,
                                                              extra_body=extra or None, **body)
        except Exception as e:  # noqa: BLE001 - raised again in stream_reply, on the caller's thread
            events.put(("error", e))
            return
        try:
            for chunk in stream:
                if cancel.is_set():
                    break
                choice = chunk.choices[0] if chunk.choices else None
                piece = choice.delta.content if choice is not None and choice.delta else None
                events.put(("chunk", (piece, choice.finish_reason if choice is not None else None)))
        except (openai.APIError, httpx.HTTPError):
            pass  # the stream broke after the server accepted the request: stream_reply judges it
        finally:
            stream.close()
            events.put(("end", None))

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
            kind = ContextTooLong if any(w in _detail(e).lower() for w in CONTEXT_WORDS) else Phi3nbError
            raise kind(f"{where} rejected the request (400): {_detail(e)}. If the conversation is "
                              "too long for it, clear the chat history.") from None
        except openai.APIStatusError as e:
            raise Phi3nbError(f"{where} answered with an error ({e.status_code}): {_detail(e)}.") from None


def _detail(error) -> str:
    body = getattr(error, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or error.message or error).strip().splitlines()[0][:300]
