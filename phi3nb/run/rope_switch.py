"""Where a LongRoPE model switches its rotary factors, and how a chat crosses that switch as the reference does.

Phi-3.5-mini, Phi-4-mini and Phi-3-mini-128k rotate queries and keys with `short_factor` while a
sequence is at most original_max_position_embeddings (4096) long and with `long_factor` beyond it.
The reference implementation (transformers' Phi3ForCausalLM.prepare_inputs_for_generation, as
Microsoft's own code and onnxruntime-genai do) drops the KV cache the first time a sequence passes
that length and prefills it again: past the switch every key is rotated with the long factors,
as if the whole sequence had been computed at once.

The exported graph picks the factors per inference step, from the largest position it is given, so
one fresh prefill of a sequence past the switch is right; what goes wrong is a cache built before it.
phi3nb therefore recomputes, once, where the reference does (`recompute_at`), on both backends:

- openvino_genai: the paged-attention backend's prefix cache, keyed by token ids alone, would hand
  short-factor keys to a longer conversation (and long-factor keys to a later short one that starts
  with the same system prompt), and nothing empties it. So where a sequence needs the other factors
  than the keys the cache holds, GenaiModel lets the pipeline go and builds a fresh one (its
  rebuild, ~the load's time): a reply that would cross the switch stops at it and the whole sequence
  is prefilled again with the long factors in the fresh pipeline, whose cache then holds only long
  keys; a new conversation under the switch after a long one gets a fresh pipeline too. The stateful
  SDPA backend, which keeps one request's state, would need no rebuild, but OpenVINO 2026.4's CPU
  plugin computes a prompt that continues a cached one there several times slower than the paged backend, more
  so as the conversation grows (phi3nb/measurements/attention-backends-epyc-zen4.json), so a long chat
  would slow to minutes a turn.
- OVModelForCausalLM: optimum-intel's own Phi-3 recompute reads `cache_position`, which transformers
  5 no longer passes (TypeError past the switch); phi3nb's generate path installs the reference's
  rule on the model (generation.recompute_past_switch).

The chat's context is then the model's own max_position_embeddings, bounded by the memory its KV
cache may take (export/fit.py). optimum-intel's export writes the switch into config.json as
max_position_embeddings; phi3nb's export writes the model's own length back (export/convert.py, keep_model_length).
"""

import threading
import time
from dataclasses import dataclass

from ..export.source_config import longrope_switch


def chat_context(config, memory_tokens=None, why_memory="") -> tuple:
    """(tokens a chat may use, prompt and reply together; a line saying how many and why, or "").

    The model's own max_position_embeddings (past a LongRoPE switch too: both backends recompute there),
    or fewer when `memory_tokens` (what this machine's memory holds of its KV cache) is less.
    """
    window = config.get("max_position_embeddings")
    switch = longrope_switch(config)
    if switch is not None and window and window <= switch:
        why = (f"this folder's config.json gives max_position_embeddings {window}, the switch of its LongRoPE "
               "factors (optimum-intel's export writes that): export it again with phi3nb to chat past it")
    else:
        why = "the model's own context (max_position_embeddings)"
    if memory_tokens is not None and window and memory_tokens < window:
        return memory_tokens, f"chats can hold {memory_tokens:,} tokens: {why_memory}"
    if switch is None and memory_tokens is None:
        return window, ""
    return window, f"chats can hold {window:,} tokens: {why}" if window else ""


def recompute_at(switch, n_prompt, max_new_tokens) -> int | None:
    """How many of the reply's tokens come before the recompute (the reference's: once the sequence is
    switch + 1 tokens long, its whole cache is computed again), or None if this call needs none of its own:
    no switch, a prompt already past it (a fresh prefill is right), or a reply that ends before it."""
    if switch is None or n_prompt > switch or n_prompt + max_new_tokens <= switch + 1:
        return None
    return switch + 1 - n_prompt


@dataclass
class Recompute:
    """The crossing turn's extra work, for a status line while it runs and the stats line after it; or, `fresh`,
    a new conversation's wait for a fresh pipeline where the last one passed the switch (genai: its prefix
    cache holds keys of the other factors)."""

    tokens: int  # the sequence prefilled again with the long factors (0: fresh)
    started: float
    estimate_s: float | None = None  # from this chat's prefill speed so far (fresh: its last build), if known
    ended: float | None = None
    fresh: bool = False

    def status(self) -> str:
        """What the model is doing now, with the elapsed time (and the estimate) as its progress."""
        if self.fresh:
            if self.ended is not None:
                return f"started a fresh pipeline in {self.ended - self.started:.1f} s"
            of = f" of about {self.estimate_s:.0f} s" if self.estimate_s else ""
            return ("starting a fresh pipeline: the last conversation passed the model's LongRoPE switch, and its "
                    f"keys must not serve this one: {time.perf_counter() - self.started:.0f} s{of}")
        if self.ended is not None:
            return f"re-read {self.tokens:,} tokens with the long rotary factors in {self.ended - self.started:.1f} s"
        elapsed = time.perf_counter() - self.started
        of = f" of about {self.estimate_s:.0f} s" if self.estimate_s else ""
        return (f"re-reading the {self.tokens:,} tokens of this conversation with the model's long rotary factors "
                f"(LongRoPE, once per chat, as the reference does): {elapsed:.0f} s{of}")


def report_recompute(on_status, tokens, estimate_s=None, fresh=False):
    """A Recompute begun now, passed to `on_status` (if any); call finish_recompute when it is done."""
    work = Recompute(tokens, time.perf_counter(), estimate_s, fresh=fresh)
    if on_status is not None:
        on_status(work)
    return work


def finish_recompute(on_status, work):
    work.ended = time.perf_counter()
    if on_status is not None:
        on_status(work)


def ticking(tick, end, start=None, every=1.0):
    """An on_status for chat_turn that keeps a Recompute in view: start(work) (else tick) as it begins,
    tick(work) every `every` seconds while it runs, end(work) once it is done."""
    running = {}

    def on_status(work):
        if work.ended is not None:
            done = running.pop(id(work), None)
            if done is not None:
                done.set()
                end(work)
            return
        done = running[id(work)] = threading.Event()
        (start or tick)(work)

        def clock():
            while not done.wait(every):
                tick(work)

        threading.Thread(target=clock, name="phi3nb-recompute-clock", daemon=True).start()

    return on_status
