"""openvino_genai through phi3nb's own path: load_genai, then GenaiModel.generate_ids with a CallbackStreamer.

That is what the chat box runs (ids from encode_chat, the KV cache of the longest common
prefix reused between turns, text streamed piece by piece), so the figures are the ones a user sees.
"""

import time

from .workload import CHAT_TURNS, SYSTEM


class GenaiBackend:
    name = "genai"

    def __init__(self, job):
        from transformers import AutoTokenizer

        from phi3nb.genai_backend import load_genai

        self.tokenizer = AutoTokenizer.from_pretrained(job["model_dir"])
        self.model = load_genai(job["model_dir"], job.get("device", "CPU"), ov_config=job.get("ov_config"))

    def _generate(self, ids, n):
        """(ttft_s, tpot_s, tokens, reply) for prompt token ids, exactly n new tokens."""
        from phi3nb.streaming import CallbackStreamer, decode_complete

        streamer = CallbackStreamer(self.tokenizer, lambda piece: None)
        settings = {"max_new_tokens": n, "do_sample": False, "ignore_eos": True}
        start = time.perf_counter()
        new = self.model.generate_ids(ids, [], settings, streamer)
        ended = time.perf_counter()
        first = streamer.first_token_at
        tpot = (ended - first) / (streamer.tokens - 1) if streamer.tokens > 1 else float("nan")
        return first - start, tpot, streamer.tokens, decode_complete(self.tokenizer, new)

    def decode(self, prompt, n):
        """(ttft_s, tpot_s, tokens) for `prompt` (already chat-formatted)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return self._generate(ids, n)[:3]

    def decode_ids(self, ids, n):
        """(ttft_s, tpot_s, tokens) for prompt token ids."""
        return self._generate(list(ids), n)[:3]

    def first_token_s(self, ids):
        """Time to first token of a fresh prompt (it shares no prefix with the last one)."""
        return self._generate(ids, 1)[0]

    def chat_ttfts(self, n, turns=CHAT_TURNS):
        """TTFT of each turn of one conversation, encoded as the chat box does (encode_chat)."""
        from phi3nb.prompts import chat_messages, encode_chat

        history, ttfts = [], []
        for turn in turns:
            ids = encode_chat(self.tokenizer, chat_messages(turn, SYSTEM, history))
            ttft, _, _, reply = self._generate(ids, n)
            ttfts.append(ttft)
            history.append((turn, reply))
        return ttfts

    def close(self):
        del self.model
