"""Token-by-token text for callbacks, and a Stop button that `generate` obeys within one token."""

import time

from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer


def decode_complete(tokenizer, ids) -> str:
    """The text of `ids` without a trailing half character.

    Byte-level tokenizers split Korean and emoji across tokens; a reply cut after such a
    token (by max_new_tokens, Stop or the context limit) decodes to a trailing U+FFFD.
    The streamer's final flush and generate_answer both use this, so they always agree.
    """
    return tokenizer.decode(ids, skip_special_tokens=True).rstrip("\ufffd")


class CallbackStreamer(BaseStreamer):
    """Calls `on_text(piece)` as tokens arrive, never with half a UTF-8 character.

    A tail that decodes to U+FFFD waits for the token that completes it; if none comes,
    it is dropped (decode_complete), so the pieces always join to the returned reply.
    """

    def __init__(self, tokenizer, on_text, skip_prompt=True):
        self.tokenizer, self.on_text = tokenizer, on_text
        self.skip_prompt = skip_prompt
        self.ids, self.shown = [], 0
        self.first_token_at = None
        self.tokens = 0
        self.stops, self.stopped_at = set(), None  # generate_answer sets the stop ids it passes

    def put(self, value):
        if self.skip_prompt:
            self.skip_prompt = False
            return
        self.add(value.reshape(-1).tolist())

    def add(self, new_ids):
        """Token ids as plain ints (openvino_genai's streamer hands them over this way)."""
        self.tokens += len(new_ids)
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        for i in new_ids:
            if i in self.stops:  # an end-of-turn token is not part of the reply, special or not
                self.stopped_at = i
            else:
                self.ids.append(i)
        self._emit(final=False)

    def end(self):
        self._emit(final=True)

    def _emit(self, final):
        if final:
            text = decode_complete(self.tokenizer, self.ids)
        else:
            text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                return
        if len(text) > self.shown:
            piece, self.shown = text[self.shown:], len(text)
            self.on_text(piece)


class StopOnEvent(StoppingCriteria):
    """Ends generation after the current token once `event` is set (e.g. by a Stop button)."""

    def __init__(self, event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return self.event.is_set()
