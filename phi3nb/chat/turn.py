"""One chat turn, shared by the chat box and `phi3nb chat`: fit the history, check, generate, append.

Like openvino.genai's chat_sample, a turn is one function; the front ends only show it.
The length check runs before any turn is dropped, so one over-long message costs nothing.
"""

import time
from dataclasses import dataclass

from ..errors import Phi3nbError
from ..run.generation import check_not_empty, check_prompt_length, check_sampling, context_window, generate_answer
from ..run.prompts import chat_messages, fit_history
from ..run.streaming import CallbackStreamer

ENDINGS = {"eos": "", "length": "max tokens reached", "context": "context window full", "stopped": "stopped"}


@dataclass
class Turn:
    """What one reply was and how it went: the stats line reads from here (one clock for all)."""

    reply: str
    tokens: int
    started: float
    first_token_at: float | None  # None if no token came
    ended: float
    finish: str  # a key of ENDINGS: why the reply ended
    dropped: int  # oldest turns dropped to fit the context
    counted: bool = True  # False: `tokens` counts a server's streamed chunks (it reported no token count)
    window: int | None = None  # the context window the prompt was fitted to, if known
    server: str | None = None  # a chat server's URL: the window is that server's, not the model's
    recompute: object = None  # a LongRoPE model's recompute at its switch in this turn (rope_switch.Recompute)

    def drop_note(self) -> str:
        """The note for the turns dropped to fit the context ("" if none): whose window, and its size where known."""
        if not self.dropped:
            return ""
        turns = f"Dropped {self.dropped} oldest turn{'s' if self.dropped > 1 else ''}"
        if self.server is None:
            return f"{turns} to fit the context of {self.window} tokens."
        if self.window:
            return f"{turns} to fit the chat server's context window ({self.window} tokens, as the server says)."
        return f"{turns}: the chat server refused the longer conversation as over its context window."

    def stats(self) -> str:
        """'N tokens · X tokens/s · first token Y s[ · re-read ...][ · why it ended]': decode speed excludes
        prefill, and the recompute at a LongRoPE switch (counted on its own). Chunks instead of tokens where
        a server sent no token count: a chunk may hold several."""
        unit = "token" if self.counted else "chunk"
        parts = [f"{self.tokens} {unit}{'s' if self.tokens != 1 else ''}"
                 + ("" if self.counted else " (the server sent no token count)")]
        if self.first_token_at is not None:
            decode = self.ended - self.first_token_at
            work = self.recompute
            if work is not None and work.ended is not None and work.started >= self.first_token_at:
                decode -= work.ended - work.started  # a re-read mid-reply (one before the first token is prefill)
            rate = ((self.tokens - 1) / decode if self.tokens > 1 and decode > 0
                    else self.tokens / max(self.ended - self.started, 1e-9))
            parts += [f"{rate:.1f} {unit}s/s", f"first token {self.first_token_at - self.started:.2f} s"]
        if self.recompute is not None:
            parts.append(self.recompute.status())
        if ENDINGS[self.finish]:
            parts.append(ENDINGS[self.finish])
        return " · ".join(parts)


def chat_turn(model, tokenizer, history, text, *, system, max_new_tokens, context=None, on_text=None,
              stop_event=None, on_status=None, **sampling) -> Turn:
    """Answer `text` after `history` (a list of (user, assistant) pairs), then append the turn to it.

    Oldest turns are dropped (in place) only once the prompt is known to fit; a failing turn
    leaves `history` as it was. `on_status` is given a rope_switch.Recompute when a LongRoPE model
    re-reads the conversation at its switch (as it starts, then once more when it is done; its
    status() says what it is doing and for how long), so a front end can say why this turn is slow.
    """
    check_not_empty(str(text))
    check_sampling(max_new_tokens, sampling)
    if hasattr(model, "stream_reply"):  # RemoteChat: the server holds the tokenizer and the context
        turn = _remote_turn(model, history, text, system, max_new_tokens, on_text, stop_event, sampling)
    else:
        turn = _local_turn(model, tokenizer, history, text, system, max_new_tokens, context, on_text, stop_event,
                           sampling, on_status)
    del history[:turn.dropped]
    history.append((text, turn.reply))
    return turn


def _local_turn(model, tokenizer, history, text, system, max_new_tokens, context, on_text, stop_event,
                sampling, on_status=None) -> Turn:
    context = context or context_window(model)
    ids, dropped = fit_history(tokenizer, text, system, history, context - max_new_tokens)
    check_prompt_length(len(ids), context)
    limit = min(max_new_tokens, context - len(ids))
    streamer = CallbackStreamer(tokenizer, on_text or (lambda piece: None))
    recomputed = []

    def status(work):
        recomputed[:] = [work]
        if on_status is not None:
            on_status(work)

    started = time.perf_counter()
    reply = generate_answer(model, tokenizer, ids, max_new_tokens=limit, streamer=streamer,
                            stop_event=stop_event, on_status=status, **sampling)
    return Turn(reply, streamer.tokens, started, streamer.first_token_at, time.perf_counter(),
                _finish(streamer, limit, max_new_tokens, stop_event), dropped, window=context,
                recompute=recomputed[0] if recomputed else None)


def _finish(streamer, limit, asked, stop_event) -> str:
    if streamer.stopped_at is not None:
        return "eos"
    if streamer.tokens >= limit:
        return "length" if limit >= asked else "context"
    return "stopped" if stop_event is not None and stop_event.is_set() else "eos"


def _remote_turn(model, history, text, system, max_new_tokens, on_text, stop_event, sampling) -> Turn:
    """The same turn on a server: it counts the tokens, so only its refusal as too long drops the oldest turn;
    any other failure (a broken connection among them) leaves `history` whole for a retry."""
    from .server_client import Chunks, ContextTooLong

    window = getattr(model, "context_window", None)  # as the server's model list says it, if it does
    for dropped in range(len(history) + 1):
        started = time.perf_counter()
        try:
            reply, tokens, first, finish = model.stream_reply(
                chat_messages(text, system, history[dropped:]), max_new_tokens=max_new_tokens, on_text=on_text,
                stop_event=stop_event, **sampling)
            break
        except ContextTooLong as refused:
            if dropped == len(history):
                raise
            window = refused.window or window  # the refusal's own figure first
    counted = not isinstance(tokens, Chunks)  # else chunks: fewer than the tokens when a server packs several
    if finish == "length" and counted and tokens < max_new_tokens:
        raise Phi3nbError(f"The chat server at {model.base_url} cut the reply after {tokens} tokens, fewer than "
                          f"the {max_new_tokens} asked: the conversation fills its context window or its own "
                          "token limit is lower. Clear the chat history, or ask for fewer tokens.")
    return Turn(reply, int(tokens), started, first, time.perf_counter(), finish, dropped, counted, window,
                model.base_url)
