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

    Each new token decodes only a short window (the ids since the last piece, plus the ones
    before them as context for spacing), so a reply costs time linear in its length. A tail
    that decodes to U+FFFD waits for the token that completes it; if none comes, it is
    dropped. The final flush checks the pieces against decode_complete of every id and sends
    any missing end, so the pieces always join to the returned reply.
    """

    def __init__(self, tokenizer, on_text, skip_prompt=True):
        self.tokenizer, self.on_text = tokenizer, on_text
        self.skip_prompt = skip_prompt
        self.ids, self.pieces, self.shown = [], [], 0  # every id kept; what on_text was given, its length
        self._prefix = self._read = 0  # window: ids[_prefix:_read] were decoded into the last piece
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
        before = self.tokenizer.decode(self.ids[self._prefix:self._read], skip_special_tokens=True)
        after = self.tokenizer.decode(self.ids[self._prefix:], skip_special_tokens=True)
        if len(after) > len(before) and not after.endswith("\ufffd") and after.startswith(before):
            self._prefix, self._read = self._read, len(self.ids)
            self._show(after[len(before):])

    def end(self):
        full = decode_complete(self.tokenizer, self.ids)
        if full[:self.shown] == "".join(self.pieces):
            self._show(full[self.shown:])

    def _show(self, piece):
        if piece:
            self.pieces.append(piece)
            self.shown += len(piece)
            self.on_text(piece)


class StopOnEvent(StoppingCriteria):
    """Ends generation after the current token once `event` is set (e.g. by a Stop button)."""

    def __init__(self, event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        return self.event.is_set()
