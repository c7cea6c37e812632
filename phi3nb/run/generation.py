"""Steps 8-10: tokenize, generate, decode.

The cookbook decodes the whole output, so its answer starts with the prompt. Here: only the
new tokens; every end-of-turn token as a stop id (Phi-3's generation_config already lists
them, other models' may not); checked inputs; optional streaming and a Stop button.
"""

import math
import threading
import weakref
from contextlib import contextmanager

from ..errors import Phi3nbError
from .rope_switch import chat_context, finish_recompute, longrope_switch, report_recompute
from ..cookbook import TOKENIZER_KWARGS
from .prompts import has_token

SAMPLING = ("temperature", "top_p", "top_k", "repetition_penalty")
STOP_TAGS = ("<|end|>", "<|endoftext|>", "<|assistant|>", "<|im_end|>", "<|eot_id|>")


def check_sampling(max_new_tokens, sampling) -> dict:
    """`generate` keyword arguments for these settings; temperature 0 means greedy."""
    unknown = set(sampling) - set(SAMPLING)
    if unknown:
        raise Phi3nbError(f"Unknown sampling option(s) {sorted(unknown)}: use {', '.join(SAMPLING)}.")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise Phi3nbError(f"max_new_tokens={max_new_tokens!r}: use a positive whole number, e.g. 256.")
    t = sampling.get("temperature", 0)
    p = sampling.get("top_p", 1.0)
    k = sampling.get("top_k", 0)
    r = sampling.get("repetition_penalty", 1.0)
    if not _number(t) or t < 0:
        raise Phi3nbError(f"temperature={t!r}: use 0 for greedy decoding or a positive number like 0.7.")
    if not _number(p) or not 0 < p <= 1:
        raise Phi3nbError(f"top_p={p!r}: use a number in (0, 1], e.g. 0.9 (1 turns it off).")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise Phi3nbError(f"top_k={k!r}: use a whole number >= 0, e.g. 50 (0 turns it off).")
    if not _number(r) or r <= 0:
        raise Phi3nbError(f"repetition_penalty={r!r}: use a positive number, e.g. 1.1 (1 turns it off).")
    # Unset options keep the model folder's generation_config.json (the embedded model's sets 1.1).
    kwargs = {"max_new_tokens": max_new_tokens}
    if "repetition_penalty" in sampling:
        kwargs["repetition_penalty"] = float(r)
    if t == 0:
        return {**kwargs, "do_sample": False}
    return {**kwargs, "do_sample": True, "temperature": float(t), "top_p": float(p), "top_k": k}


def _number(x):
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def stop_token_ids(model, tokenizer) -> list:
    """Every id that ends a turn: generation_config's eos plus the tokenizer's end-of-turn tags."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    ids.update(tokenizer.convert_tokens_to_ids(tag) for tag in STOP_TAGS if has_token(tokenizer, tag))
    return sorted(ids)


def context_window(model) -> int:
    """How many tokens (prompt + reply) the model attends to: 4096 for Phi-3-mini-4k, 131072 for Phi-3.5-mini
    (past its LongRoPE switch too: _generate_optimum recomputes there as the reference does, rope_switch.py)."""
    config = getattr(model, "config", None)
    if hasattr(config, "to_dict"):  # a transformers config; GenaiModel's is chat_context's already
        return int(chat_context(config.to_dict())[0] or 4096)
    return int(getattr(config, "max_position_embeddings", 0) or 4096)


def check_not_empty(prompt):
    """A prompt (text, or token ids) with nothing in it ends here, before any model runs."""
    if not (prompt.strip() if isinstance(prompt, str) else len(prompt)):
        raise Phi3nbError("The prompt is empty: type a question first.")


def check_prompt_length(n_prompt, window):
    if n_prompt >= window:
        over = n_prompt - window + 1
        raise Phi3nbError(f"The prompt is {n_prompt} tokens, {over} over what the model's context window of "
                          f"{window} tokens leaves for a reply. Shorten it, or clear the chat history.")


_BUSY = weakref.WeakKeyDictionary()
_BUSY_GUARD = threading.Lock()


@contextmanager
def exclusive(model):
    """One reply at a time per model: an OpenVINO request's KV cache can't serve two at once."""
    with _BUSY_GUARD:
        lock = _BUSY.setdefault(model, threading.Lock())
    if not lock.acquire(blocking=False):
        raise Phi3nbError("The model is still writing another reply: wait for it to finish, or press Stop.")
    try:
        yield
    finally:
        lock.release()


def generate_answer(model, tokenizer, prompt, *, max_new_tokens=1024, streamer=None, stop_event=None,
                    on_status=None, **sampling) -> str:
    """The model's reply to `prompt` (text, or token ids from encode_chat): only the new text.

    `streamer` is a callable that receives text pieces as they are generated (or a
    CallbackStreamer, to read its token count and first-token time afterwards);
    setting `stop_event` (a threading.Event) ends generation after the current token.
    `on_status` is given a rope_switch.Recompute when a LongRoPE model's reply recomputes its KV cache
    at the switch (it starts and when it ends): a crossing turn's slow step, for a status line.
    """
    from .streaming import CallbackStreamer, decode_complete

    kwargs = check_sampling(max_new_tokens, sampling)
    check_not_empty(prompt)
    ids = tokenizer(prompt, **TOKENIZER_KWARGS)["input_ids"] if isinstance(prompt, str) else list(prompt)
    window = context_window(model)
    check_prompt_length(len(ids), window)
    kwargs["max_new_tokens"] = min(kwargs["max_new_tokens"], window - len(ids))
    stops = stop_token_ids(model, tokenizer)
    if streamer is not None and not isinstance(streamer, CallbackStreamer):
        streamer = CallbackStreamer(tokenizer, streamer)
    if streamer is not None:
        streamer.stops = set(stops)
    with exclusive(model):
        if hasattr(model, "generate_ids"):  # GenaiModel: openvino_genai's LLMPipeline
            extra = {"on_status": on_status} if on_status is not None else {}
            new_ids = model.generate_ids(ids, stops, kwargs, streamer, stop_event, **extra)
        else:
            new_ids = _generate_optimum(model, ids, stops, kwargs, streamer, stop_event, on_status)
    return decode_complete(tokenizer, new_ids)


def _generate_optimum(model, ids, stops, kwargs, streamer, stop_event, on_status=None) -> list:
    """The cookbook's path: OVModelForCausalLM.generate, with every stop token and a Stop button."""
    import torch
    from transformers import StoppingCriteriaList

    from .streaming import StopOnEvent

    recompute = recompute_past_switch(model, on_status)
    extra = {"streamer": streamer} if streamer is not None else {}
    if stop_event is not None:
        extra["stopping_criteria"] = StoppingCriteriaList([StopOnEvent(stop_event)])
    inputs = torch.tensor([ids], dtype=torch.long)
    out = model.generate(input_ids=inputs, attention_mask=torch.ones_like(inputs), eos_token_id=stops,
                         pad_token_id=stops[0], **kwargs, **extra)
    if recompute and recompute["work"] is not None and recompute["work"].ended is None:
        finish_recompute(on_status, recompute["work"])  # the reply's last token came from the recompute
    new = out[0, len(ids):].tolist()
    return new[:-1] if new and new[-1] in stops else new


def recompute_past_switch(model, on_status=None):
    """Install on an OVModelForCausalLM the reference's rule for a LongRoPE model (transformers' Phi3
    prepare_inputs_for_generation): the first time the sequence passes the switch, the KV cache is dropped
    and the whole sequence prefilled again, so every key past it has the long factors. optimum-intel's
    OVPhi3ForCausalLM has the same rule but reads `cache_position`, which transformers 5 no longer passes
    (TypeError past the switch); a None past_key_values makes OVModelForCausalLM reset its request's state
    and take every id. `on_status` hears of the recompute (rope_switch.Recompute) as it starts and ends;
    returns {"work": that Recompute or None} for the caller to end it if the reply ends with it."""
    from optimum.intel import OVModelForCausalLM

    config = getattr(model, "config", None)
    switch = longrope_switch(config.to_dict()) if hasattr(config, "to_dict") else None
    if switch is None or not isinstance(model, OVModelForCausalLM):
        return None
    base = OVModelForCausalLM.prepare_inputs_for_generation.__get__(model)
    state = {"work": None}

    def prepare(input_ids, past_key_values=None, **kwargs):
        work = state["work"]
        if work is not None and work.ended is None:
            finish_recompute(on_status, work)  # the step after the recompute: it is done
        if past_key_values and input_ids.shape[1] > switch and model._get_past_length(past_key_values) <= switch:
            past_key_values = None
            kwargs.pop("position_ids", None)  # from the attention mask again, for every id
            state["work"] = report_recompute(on_status, int(input_ids.shape[1]))
        return base(input_ids, past_key_values=past_key_values, **kwargs)

    model.prepare_inputs_for_generation = prepare
    return state
