"""The fast backend: openvino_genai.LLMPipeline on the same exported folder as the cookbook's path.

It takes token ids (from encode_chat, so typed text cannot forge turns) and keeps the KV
cache of its previous call, reusing the longest common prefix: a chat turn prefills only
what is new, and a trimmed history simply prefills again once.
"""

import functools
import json
import time
import types
from pathlib import Path

from .devices import full_device_name, resolve_device
from .loading import check_ov_config, load_failed, writable_cache
from .model_dir import check_model_dir, int4_group_size
from .cookbook import FAST_CPU_CONFIG, OV_CONFIG, COOKBOOK_DEVICE

TUNED_FILE = "phi3nb_tuned.json"  # written by `phi3nb tune MODEL_DIR`


class GenaiModel:
    """An LLMPipeline plus the config facts generate_answer needs (context window, stop ids)."""

    def __init__(self, pipe, model_dir):
        self.pipe, self.model_dir = pipe, Path(model_dir)
        config = json.loads((self.model_dir / "config.json").read_text())
        gen_path = self.model_dir / "generation_config.json"
        gen = json.loads(gen_path.read_text()) if gen_path.exists() else {}
        self.config = types.SimpleNamespace(max_position_embeddings=config.get("max_position_embeddings"))
        self.generation_config = types.SimpleNamespace(eos_token_id=gen.get("eos_token_id", config.get("eos_token_id")))
        self._seen, self._prompt_len = [], 0  # the last call's prompt + generated ids: what genai's KV cache holds

    def generate_ids(self, ids, stops, settings, streamer=None, stop_event=None) -> list:
        """New token ids for prompt `ids`; `streamer` is a CallbackStreamer fed token by token."""
        import numpy as np
        import openvino as ov
        import openvino_genai as ov_genai

        ids = self._as_generated(list(ids), settings["max_new_tokens"])
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
        config.ignore_eos = settings.get("ignore_eos", False)  # the bench's fixed-length replies
        array = np.array([list(ids)], dtype=np.int64)
        inputs = ov_genai.TokenizedInputs(ov.Tensor(array), ov.Tensor(np.ones_like(array)))
        feed = _feed_class()(streamer, stop_event) if (streamer or stop_event) else None
        self._seen = []
        result = self.pipe.generate(inputs, config, feed)
        self._seen, self._prompt_len = list(ids) + list(result.tokens[0]), len(ids)
        return [t for t in result.tokens[0] if t not in stops]

    def _as_generated(self, ids, max_new_tokens) -> list:
        """`ids` with the previous reply as the tokens genai generated, where the history re-encoded it otherwise.

        A reply's text, encoded again for the next turn's history, can split into other tokens than
        the model generated; the KV cache then matches only up to the first difference and genai
        prefills the rest again (the bench's chat, turn 5: 29 -> 44 ms). The text is the same.
        """
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
        window = self.config.max_position_embeddings or float("inf")
        if decode(ids[n:lo]) != tail or len(spliced) + max_new_tokens > window:
            return ids
        return spliced


@functools.cache
def _feed_class():
    """Defined on first use, so importing phi3nb does not import openvino_genai."""
    import openvino_genai as ov_genai

    class Feed(ov_genai.StreamerBase):
        """Passes genai's tokens to a CallbackStreamer; a set stop_event stops after this token."""

        def __init__(self, streamer, stop_event):
            super().__init__()
            self.streamer, self.stop_event = streamer, stop_event

        def write(self, token):
            if self.streamer is not None:
                self.streamer.add(token if isinstance(token, list) else [token])
            stop = self.stop_event is not None and self.stop_event.is_set()
            return ov_genai.StreamingStatus.STOP if stop else ov_genai.StreamingStatus.RUNNING

        def end(self):
            if self.streamer is not None:
                self.streamer.end()

    return Feed


def load_genai(model_dir, device=COOKBOOK_DEVICE, ov_config=None) -> GenaiModel:
    """The exported folder as an LLMPipeline, with the same checks and device fallback as load_model.

    ov_config=None: on the CPU, the config `phi3nb tune` measured fastest for this model on this CPU
    (phi3nb_tuned.json beside the model), else the cookbook's config plus the f32 hint (faster int4
    decoding, see cookbook.py); elsewhere the cookbook's config.
    """
    import openvino_genai as ov_genai

    path = check_model_dir(model_dir)
    device = resolve_device(device)
    note = ""
    if ov_config is None and device == "CPU":
        ov_config, note = tuned_config(path, fast_cpu_config(path))
    elif ov_config is None:
        ov_config = OV_CONFIG
    props = writable_cache(check_ov_config(dict(ov_config), device), path)
    if not props.get("CACHE_DIR"):
        props.pop("CACHE_DIR", None)  # genai reads "" as a folder name
    print(f"[phi3nb] loading {path.name} with openvino_genai on {device}{note}...", flush=True)
    start = time.perf_counter()
    try:
        pipe = ov_genai.LLMPipeline(str(path), device, **props)
    except RuntimeError as e:
        raise load_failed(path, e) from None
    print(f"[phi3nb] loaded in {time.perf_counter() - start:.1f} s", flush=True)
    return GenaiModel(pipe, path)


def fast_cpu_config(model_dir, base=FAST_CPU_CONFIG) -> dict:
    """`base` with the activations' quantization group cut to the weights' int4 group where that is smaller:
    a larger one makes OpenVINO leave its fast int4 kernel (cookbook.py, DQ_GROUP)."""
    config = dict(base)
    group = int4_group_size(model_dir)
    if group and 0 < group < config.get("DYNAMIC_QUANTIZATION_GROUP_SIZE", 0):
        config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = group
    return config


def tuned_config(path, default) -> tuple:
    """(config, note for the load line): phi3nb_tuned.json's if it was measured on this CPU, else `default`."""
    try:
        tuned = json.loads((Path(path) / TUNED_FILE).read_text())
        config = dict(tuned["ov_config"])
    except (OSError, ValueError, KeyError, TypeError):
        return default, ""
    if tuned.get("cpu") != full_device_name("CPU"):
        return default, f" (not using {TUNED_FILE}: it was tuned on {tuned.get('cpu')}; run phi3nb tune again)"
    return config, f" with {TUNED_FILE} ({tuned.get('winner')}: {config})"
