"""50 chat turns on the embedded model with history trimming: no error, memory flat (PHI3NB_SLOW=1)."""

import pytest

from phi3nb.bench.memwatch import MemorySampler
from phi3nb.bench.stats import peak_rss_mb

TURNS = 50
QUESTIONS = ["Tell me a fact about the sea.", "Why is the sky blue?", "Name a famous painter.",
             "What is 12 times 7?", "Give me a tip for learning Python."]


@pytest.mark.slow
def test_fifty_turns_with_trimming_keep_memory_flat():
    import phi3nb
    from phi3nb.chat.box.widget import ChatBox

    sampler = MemorySampler(interval=0.05, uss_every=0).start()  # this process's peak, on every OS
    model_dir = phi3nb.prepare_embedded_model()
    box = ChatBox(phi3nb.load_model(model_dir, device="CPU"), phi3nb.load_tokenizer(model_dir),
                  context=512, max_new_tokens=64)
    peaks, trimmed = {}, 0
    for turn in range(1, TURNS + 1):
        box.input.value = QUESTIONS[turn % len(QUESTIONS)]
        box.send.click()
        assert box.wait(120), f"turn {turn} did not finish"
        assert box.last_error is None, f"turn {turn}: {box.last_error}"
        trimmed += "Dropped" in box.messages[-2].text if box.messages[-2].role == "note" else 0
        peaks[turn] = peak_rss_mb(sampler)
    sampler.stop()
    print(f"peak RSS: turn 10 {peaks[10]:.0f} MB, turn 50 {peaks[50]:.0f} MB; trimmed on {trimmed} turns")
    assert trimmed > 0, "the context never filled up: the soak did not exercise trimming"
    assert peaks[50] <= 1.10 * peaks[10]
