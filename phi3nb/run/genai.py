"""The fast backend: openvino_genai.LLMPipeline on the same exported folder as the cookbook's path.

It takes token ids (from encode_chat, so typed text cannot forge turns) and keeps the KV
cache of its previous call, reusing the longest common prefix: a chat turn prefills only
what is new, and a trimmed history simply prefills again once.
"""

import functools
import gc
import json
import threading
import time
import types
import warnings
from pathlib import Path

from ..cookbook import COOKBOOK_DEVICE, OV_CONFIG
from ..errors import Phi3nbError
from ..export.fit import (check_load_fits, kv_bytes_per_token, kv_cache_bytes, kv_cache_precision,
                          memory_context)
from ..export.folder.model_dir import check_model_dir, int4_ratio, weight_compression
from .compile_cache import (CACHE_MODE, CACHED_DEVICES, cache_files, cache_outcome, compiled_cache_dir,
                            writable_cache)
from .cpu import cpu_info
from .cpu_config import cpu_config
from .faster_export import is_phi3, load_line
from .in_thread import call_in_thread
from .devices import resolve_device
from .loading import check_ov_config, load_failed
from .rope_switch import chat_context, finish_recompute, longrope_switch, recompute_at, report_recompute

WARM_UP_ROWS = 16  # the warm-up prompt's length (GenaiModel.warm_up)


class GenaiModel:
    """An LLMPipeline plus the config facts generate_answer needs (context window, stop ids).

    The context window is the model's own, or `context` (load_genai's, bounded by the KV cache's memory);
    `context_note` says which and why. A LongRoPE model crosses its switch as the reference does where
    `rebuild` builds a fresh pipeline (load_genai's, on paged-attention devices; rope_switch.py): its
    prefix cache is then dropped wherever it would hand keys of one set of factors to a sequence that needs
    the other. Without it, its chats stop at the switch.
    """

    def __init__(self, pipe, model_dir, *, context=None, context_note="", rebuild=None, device="CPU"):
        self.pipe, self.model_dir, self.device = pipe, Path(model_dir), device
        config = json.loads((self.model_dir / "config.json").read_text())
        gen_path = self.model_dir / "generation_config.json"
        gen = json.loads(gen_path.read_text()) if gen_path.exists() else {}
        self.switch = longrope_switch(config)
        window, self.context_note = chat_context(config)
        if context is not None:
            window, self.context_note = context, context_note
        self._build = rebuild if self.switch is not None else None
        if self.switch is not None and self._build is None:
            window = min(window or self.switch, self.switch)
            self.context_note = (f"chats stop at {self.switch} tokens: there this model's LongRoPE switches to its "
                                 "long factors, and this pipeline's KV cache would keep the keys of the short ones "
                                 "(phi3nb/run/rope_switch.py)")
        self.config = types.SimpleNamespace(max_position_embeddings=window)
        self.generation_config = types.SimpleNamespace(eos_token_id=gen.get("eos_token_id", config.get("eos_token_id")))
        self._seen, self._prompt_len = [], 0  # the last call's prompt + generated ids: what genai's KV cache holds
        self._asked, self._sent = [], []  # the last call's prompt as asked, and as sent (see _as_generated)
        self._long = None  # LongRoPE: the factors of the keys the prefix cache holds (None: no conversation's yet)
        self._prefill_rate = None  # LongRoPE: tokens/s of this chat's last whole prefill, for the recompute's estimate
        self.rebuilds = 0  # fresh pipelines built to drop a prefix cache of the other factors
        self.build_s = None  # seconds the last pipeline took to build and warm up (load_genai's, then _rebuild's)
        self.ov_config = None  # the properties load_genai built it with: what a measurement of it ran with

    @property
    def follows_switch(self) -> bool:
        """A LongRoPE model whose chats go on past the switch, computed as the reference computes them."""
        return self._build is not None

    @property
    def held_tokens(self) -> int:
        """Tokens the KV cache holds after the last call (its prompt and reply): the conversation's length."""
        return len(self._seen)

    def warm_up(self):
        """Two tokens for a 16-token prompt, so OpenVINO's first-inference work is done before the first message.

        The CPU plugin lays out each layer's weights for its kernels at a model's first inference, not when
        compiling (its oneDNN FullyConnected executors are made with the real input shapes): on the 4-layer
        Phi-3-mini slice those weight reorders were most of a fresh pipeline's wait for its first token, and
        they grow with the model. A layout can depend on the rows of a step: int8
        layers with f32 activations take a second one from 7 rows up (OpenVINO 2026.4, the embedded model), so
        this runs a 16-row prompt step and a one-row decode step; from 2 to 1,024 rows nothing more was laid
        out. The prompt is end-of-text ids, which no chat starts with, so genai's prefix cache never serves a
        conversation from it.
        """
        eos = self.generation_config.eos_token_id
        first = eos[0] if isinstance(eos, (list, tuple)) and eos else eos
        config = self.pipe.get_generation_config()
        config.max_new_tokens, config.ignore_eos, config.do_sample = 2, True, False  # ignore_eos: both steps run
        self.pipe.generate(_tokenized([first or 0] * WARM_UP_ROWS), config)
        self._seen, self._prompt_len, self._asked, self._sent = [], 0, [], []

    def generate_ids(self, ids, stops, settings, streamer=None, stop_event=None, on_status=None) -> list:
        """New token ids for prompt `ids`; `streamer` is a CallbackStreamer fed token by token; `on_status`
        is given a rope_switch.Recompute as the crossing turn's recompute starts and ends."""
        asked = list(ids)
        if self.pipe is None:  # the last fresh pipeline failed to build (_rebuild): this message tries again
            self._rebuild()
        ids = self._as_generated(asked, settings["max_new_tokens"])
        config = self.pipe.get_generation_config()
        config.max_new_tokens = settings["max_new_tokens"]
        if "repetition_penalty" in settings:  # else generation_config.json's, as for the optimum path
            config.repetition_penalty = settings["repetition_penalty"]
        config.do_sample = settings["do_sample"]
        if config.do_sample:
            config.temperature, config.top_p = settings["temperature"], settings["top_p"]
            if settings["top_k"]:
                config.top_k = settings["top_k"]
        config.stop_token_ids = set(stops)  # eos_token_id stays the model's own, from its folder
        self._asked, self._sent = [], []
        feed = _feed_class()(streamer, stop_event)
        if self.follows_switch:
            new = self._generate_longrope(ids, config, stops, feed, stop_event, on_status)
        else:
            new = self._call(ids, config, feed)
        self._asked, self._sent = asked, list(ids)
        return [t for t in new if t not in stops]

    def _call(self, sequence, config, feed) -> list:
        """One genai call on the whole `sequence` (the prefix cache reuses what it holds of it)."""
        self._seen, self._prompt_len = [], 0  # a call that fails leaves a cache nobody can trust
        started = time.perf_counter()
        feed.first_at = None
        result = _interruptible(self.pipe.generate, _tokenized(sequence), config, feed)
        feed.raise_error()
        new = list(result.tokens[0])
        fresh = self.follows_switch and self._long is None  # a LongRoPE pipeline with nothing cached: all prefilled
        if fresh and feed.first_at is not None and len(sequence) >= WARM_UP_ROWS:
            self._prefill_rate = len(sequence) / max(feed.first_at - started, 1e-6)
        self._seen, self._prompt_len = list(sequence) + new, len(sequence)
        return new

    def _generate_longrope(self, ids, config, stops, feed, stop_event, on_status) -> list:
        """A LongRoPE model's reply: where the sequence first passes the switch (recompute_at), the reply stops,
        and the whole sequence is prefilled again with the long factors in a fresh pipeline, as transformers'
        Phi3 drops its KV cache there; then decoding carries on. Stop pressed before that skips it; pressed
        during it, the reply stops at the first token after it (one prefill cannot be cut short)."""
        asked = config.max_new_tokens
        first = recompute_at(self.switch, len(ids), asked)
        if first is None:
            return self._in_mode(ids, config, feed, on_status)
        config.max_new_tokens, feed.final = first, False
        new = self._in_mode(ids, config, feed, on_status)
        if len(new) < first or new[-1] in stops or (stop_event is not None and stop_event.is_set()):
            feed.end_stream()
            return new
        config.max_new_tokens, feed.final = asked - first, True
        return new + self._in_mode(list(ids) + new, config, feed, on_status)

    def _in_mode(self, sequence, config, feed, on_status) -> list:
        """One call on a pipeline whose prefix cache holds keys of the factors `sequence` needs (the long ones
        past the switch) and no others: where it holds the other ones, a fresh pipeline first. A conversation
        that goes on past the switch is thereby read again whole with the long factors, and a new one waits for
        the fresh pipeline; either is said through on_status."""
        long, work = len(sequence) > self.switch, None
        if self._long is not None and self._long != long:
            goes_on = long and 0 < len(self._seen) <= len(sequence) and list(sequence[:len(self._seen)]) == self._seen
            if goes_on:
                work = report_recompute(on_status, len(sequence), self._estimate(len(sequence)))
                feed.on_first = lambda: finish_recompute(on_status, work)
                self._rebuild()
            else:  # a new conversation: it waits for the fresh pipeline, said as such
                fresh = report_recompute(on_status, 0, self.build_s, fresh=True)
                try:
                    self._rebuild()
                finally:
                    finish_recompute(on_status, fresh)
        try:
            new = self._call(sequence, config, feed)
        finally:
            self._long = long
            feed.on_first = None
            if work is not None and work.ended is None:  # no token came (an error, or nothing to write)
                finish_recompute(on_status, work)
        return new

    def _rebuild(self):
        """A fresh pipeline, its prefix cache empty: the old one is let go first, so the two never hold memory
        together (the CPU plugin's laid-out weights are the model's size), then warmed up as load_genai does."""
        self.pipe, self._long = None, None
        self._seen, self._prompt_len, self._asked, self._sent = [], 0, [], []
        gc.collect()
        started = time.perf_counter()
        try:
            self.pipe = self._build()
            self.warm_up()
            self.build_s = time.perf_counter() - started
        except (RuntimeError, MemoryError) as e:  # out of memory, most likely: the old pipeline is gone already
            self.pipe = None
            raise Phi3nbError(
                f"This chat needed a fresh pipeline (its LongRoPE model switches rotary factors at {self.switch} "
                "tokens, and the keys of the other ones must not be reused), and building it failed. The "
                "conversation is kept: your next message tries again. "
                f"{load_failed(self.model_dir, e, self.device, tokenizer_ir=True)}") from None
        self.rebuilds += 1

    def _estimate(self, tokens) -> float | None:
        """Seconds to prefill `tokens` at this chat's last prefill speed, if one was measured."""
        return tokens / self._prefill_rate if self._prefill_rate else None

    def _as_generated(self, ids, max_new_tokens) -> list:
        """`ids` with the previous reply as the tokens genai generated, where the history re-encoded it otherwise.

        A reply's text, encoded again for the next turn's history, can split into other tokens than
        the model generated; the KV cache then matches only up to the first difference and genai
        prefills the rest again (the bench's chat, turn 5: 29 -> 44 ms). The text is the same.
        Earlier replies are respelled again in every later turn, so the last prompt as it was asked is
        first replaced by the prompt as it was sent: else a respelled reply costs a full prefill two turns on.
        """
        window = self.config.max_position_embeddings or float("inf")
        asked = ids
        if self._asked and ids[:len(self._asked)] == self._asked:
            ids = self._sent + ids[len(self._asked):]
            if len(ids) + max_new_tokens > window:
                return asked
        seen = self._seen
        n = next((i for i, (a, b) in enumerate(zip(ids, seen)) if a != b), min(len(ids), len(seen)))
        if not seen or n < self._prompt_len or ids[:len(seen)] == seen:
            return ids  # a new conversation, an edited history, or the cache already covers it
        decode = functools.partial(self.pipe.get_tokenizer().decode, skip_special_tokens=False)
        tail = decode(seen[n:])
        lo, hi = n, len(ids)  # the shortest ids[n:k] whose text is as long as the tail's
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if len(decode(ids[n:mid])) < len(tail) else (lo, mid)
        spliced = seen + ids[lo:]
        if decode(ids[n:lo]) != tail or len(spliced) + max_new_tokens > window:
            return ids
        return spliced


def chat_plan(path, device, props) -> dict:
    """What a chat on the folder `path` will hold: `context` tokens (the model's own, or fewer where this
    machine's memory cannot hold its KV cache), `note` (the load line saying which and why), `kv_bytes` (the
    KV cache's share for the fit check), `follows_switch` (a LongRoPE model gets a fresh paged-attention
    pipeline where its factors switch; NPUs run genai's static pipeline: their chats stop there)."""
    config = json.loads((Path(path) / "config.json").read_text())
    follows = longrope_switch(config) is not None and device.split(".")[0] != "NPU"
    precision = kv_cache_precision(path, device, props)
    per_token = kv_bytes_per_token(config, precision)
    memory = memory_context(path, per_token, device)
    own = config.get("max_position_embeddings")
    why = (f"what this machine's available memory holds of the KV cache beside the model ({precision}, "
           f"{per_token:,.0f} bytes a token; the model's own context is {own:,} tokens)" if own else "")
    context, note = chat_context(config, memory, why)
    return {"context": context, "note": note, "follows_switch": follows,
            "kv_bytes": kv_cache_bytes(context, per_token) if context else 0}


def _tokenized(ids):
    """One prompt of token ids, as LLMPipeline.generate takes it (all of it attended to)."""
    import numpy as np
    import openvino as ov
    import openvino_genai as ov_genai

    array = np.array([list(ids)], dtype=np.int64)
    return ov_genai.TokenizedInputs(ov.Tensor(array), ov.Tensor(np.ones_like(array)))


def _interruptible(generate, tokens, config, feed):
    """generate(tokens, config, feed); called from the main thread, run in a thread of its own so that Ctrl-C or
    JupyterLab's Interrupt stops the reply within one token (then raises KeyboardInterrupt): blocked in
    genai's C++, the main thread would see it only once the whole reply had been written."""
    if threading.current_thread() is not threading.main_thread():
        return generate(tokens, config, feed)
    result = call_in_thread(lambda: generate(tokens, config, feed), lambda e: feed.interrupted.set(), "phi3nb-genai")
    if feed.interrupted.is_set():
        raise KeyboardInterrupt
    return result


@functools.cache
def _feed_class():
    """Defined on first use, so importing phi3nb does not import openvino_genai."""
    import openvino_genai as ov_genai

    class Feed(ov_genai.StreamerBase):
        """Passes genai's tokens to a CallbackStreamer; a set stop_event stops after this token.

        genai calls it from a thread of its own, and an exception out of a callback (the chat box's, a user's
        streamer) would cross genai's C++ and abort the process (std::terminate: a notebook's kernel dies with
        everything in it). So the callbacks' exceptions stop the reply here and are raised again in Python once
        genai returns (raise_error, from GenaiModel._call)."""

        def __init__(self, streamer, stop_event):
            super().__init__()
            self.streamer, self.stop_event = streamer, stop_event
            self.final = True  # False: a call the reply goes on after (GenaiModel._generate_longrope)
            self.first_at, self.on_first = None, None  # this call's first token: when, and who to tell
            self.error = None  # what a callback raised, for raise_error
            self.interrupted = threading.Event()  # Ctrl-C in the caller's thread (_interruptible)

        def write(self, token):
            try:
                if self.first_at is None:
                    self.first_at = time.perf_counter()
                    if self.on_first is not None:
                        self.on_first()
                if self.streamer is not None:
                    self.streamer.add(token if isinstance(token, list) else [token])
                stop = self.interrupted.is_set() or (self.stop_event is not None and self.stop_event.is_set())
            except BaseException as e:  # noqa: BLE001 - raised again by raise_error, in Python
                self.error, stop = self.error or e, True
            return ov_genai.StreamingStatus.STOP if stop else ov_genai.StreamingStatus.RUNNING

        def end(self):
            if self.final and self.error is None:
                try:
                    self.end_stream()
                except BaseException as e:  # noqa: BLE001 - as in write
                    self.error = e

        def raise_error(self):
            error, self.error = self.error, None
            if error is not None:
                raise error

        def end_stream(self):
            if self.streamer is not None:
                self.streamer.end()

    return Feed


def _properties(path, device, ov_config, cpu=None) -> tuple:
    """(the LLMPipeline's properties, a line for the load's report): the caller's ov_config, else on the CPU the
    tuned or default CPU config (cpu_config.py) and elsewhere the cookbook's; checked against the device, with
    the compiled-model cache where it can help (compile_cache.py)."""
    chosen_cache = isinstance(ov_config, dict) and "CACHE_DIR" in ov_config
    note = ""
    if ov_config is None and device == "CPU":
        ov_config, note = cpu_config(path, cpu)
    elif ov_config is None:
        ov_config = OV_CONFIG
    props = writable_cache(check_ov_config(dict(ov_config), device), path)
    if not chosen_cache and device.split(".")[0] in CACHED_DEVICES:
        props = {**props, "CACHE_DIR": str(compiled_cache_dir(path)), **CACHE_MODE}
    if not props.get("CACHE_DIR"):
        props.pop("CACHE_DIR", None)  # genai reads "" as a folder name
    return props, note


def load_genai(model_dir, device=COOKBOOK_DEVICE, ov_config=None, *, report=None) -> GenaiModel:
    """The exported folder as an LLMPipeline, with the same checks and device fallback as load_model, warmed up.

    ov_config=None: on the CPU, the config `phi3nb tune` measured fastest for this model on this CPU
    (phi3nb_tuned.json beside the model), else the cookbook's config plus the f32 hint and int8 activations
    per 128 inputs, or the group measured fastest on this CPU's class (faster int4 decoding, see
    cpu_config.py); elsewhere the cookbook's config. A line says
    which and why; another, for a Phi-3 export whose format is the slow part on this CPU, which export would
    decode faster and its published cost in answer quality (faster_export.py): suggested, never made.
    Before it returns, one tiny reply (GenaiModel.warm_up) does OpenVINO's first-inference work, so the
    first message answers as fast as later ones. On a GPU or NPU the compiled model is kept in
    compiled_cache_dir (~/.cache/phi3nb/compiled/...); an ov_config with "CACHE_DIR": "" turns that off,
    one with a folder puts it there. The last line says what the load did.
    report: called with each of those lines (no "[phi3nb] ") instead of printing them, as they come: the chat
    box shows them while it loads the model in the background (run/background.py).
    """
    import openvino_genai as ov_genai

    report = report or (lambda line: print(f"[phi3nb] {line}", flush=True))

    path = check_model_dir(model_dir)  # the folder
    device = resolve_device(device)
    cpu = cpu_info() if device == "CPU" else None
    props, note = _properties(path, device, ov_config, cpu)  # the config
    plan = chat_plan(path, device, props)  # the chat's context, and the fit check with its KV cache
    check_load_fits(path, device, plan["kv_bytes"])
    before = cache_files(props.get("CACHE_DIR"))
    report(f"loading {path.name} with openvino_genai on {device}, then warming it up...")
    if note:
        report(note)
    advice = load_line(cpu, weight_compression(path), int4_ratio(path)) if device == "CPU" and is_phi3(path) else None
    if advice:  # (only for Phi-3 models: the published quality figures are Phi-3-mini's)
        report(advice)
    start = time.perf_counter()
    try:
        build = functools.partial(ov_genai.LLMPipeline, str(path), device, **props)
        model = GenaiModel(build(), path, context=plan["context"], context_note=plan["note"],
                           rebuild=build if plan["follows_switch"] else None, device=device)
        compiled = time.perf_counter()
        report(f"pipeline built in {compiled - start:.1f} s; warming up...")
        model.warm_up()
    except (RuntimeError, MemoryError) as e:  # memory and device failures keep the export; only unreadable files not
        raise load_failed(path, e, device, tokenizer_ir=True) from None
    done = time.perf_counter()
    model.build_s, model.ov_config = done - start, props
    if model.context_note:
        report(model.context_note)
    report(f"loaded in {done - start:.1f} s ({cache_outcome(props.get('CACHE_DIR'), before)}: "
           f"{compiled - start:.1f} s; warmed up: {done - compiled:.1f} s)")
    return model
