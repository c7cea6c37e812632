"""The streamer's pieces: any ids on either tokenizer join to decode_complete, at a cost linear in the reply."""

import functools

import pytest
from hypothesis import given, settings, strategies as st

from phi3nb.run.streaming import CallbackStreamer, decode_complete


@functools.cache
def tokenizer(name):
    if name == "tiny-phi3":  # Phi-3's ids and specials over a byte-level vocabulary
        from tiny_phi3 import build_tokenizer

        return build_tokenizer()
    from transformers import AutoTokenizer

    from phi3nb.export.embedded import hf_model_dir

    return AutoTokenizer.from_pretrained(hf_model_dir())  # SmolLM2's byte-level BPE


def stream(tok, ids, chunks, stops=()):
    pieces = []
    streamer = CallbackStreamer(tok, pieces.append, skip_prompt=False)
    streamer.stops = set(stops)
    at = 0
    for size in chunks:
        streamer.add(ids[at:at + size])
        at += size
    streamer.add(ids[at:])
    streamer.end()
    return pieces


@pytest.mark.parametrize("name", ["tiny-phi3", "embedded"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_pieces_join_to_the_whole_decode(name, data):
    tok = tokenizer(name)
    vocab = len(tok)
    # mostly low ids (bytes and short merges, where characters get split), some from anywhere
    any_id = st.one_of(st.integers(0, min(600, vocab - 1)), st.integers(0, vocab - 1))
    ids = data.draw(st.lists(any_id, max_size=60))
    chunks = data.draw(st.lists(st.integers(1, 3), max_size=len(ids)))
    stops = data.draw(st.sets(st.sampled_from(ids), max_size=1)) if ids else set()
    pieces = stream(tok, ids, chunks, stops)
    kept = [i for i in ids if i not in stops]
    assert "".join(pieces) == decode_complete(tok, kept)
    assert all(pieces)  # on_text is never called with nothing


class CountingTokenizer:
    """Counts how many ids each decode call is given: the streamer's work, free of timing noise."""

    def __init__(self, tok):
        self.tok, self.decoded = tok, 0

    def decode(self, ids, **kwargs):
        self.decoded += len(ids)
        return self.tok.decode(ids, **kwargs)


@pytest.mark.parametrize("name", ["tiny-phi3", "embedded"])
def test_a_long_reply_costs_linear_decoding(name):
    tok = tokenizer(name)
    ids = tok("The lighthouse keeper, 안녕하세요 😀, walked along the shore. " * 80,
              add_special_tokens=False)["input_ids"][:1000]
    counting = CountingTokenizer(tok)
    pieces = stream(counting, ids, [1] * len(ids))
    assert "".join(pieces) == decode_complete(tok, ids)
    # re-decoding everything on each token would be ~500,000 ids; a bounded window is a few per token
    assert counting.decoded < 20 * len(ids), counting.decoded
