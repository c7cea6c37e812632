"""Replies of exactly n tokens through load_genai's model, timed: what `phi3nb tune` compares configs by.

The bench's genai backend is this class with a chat and long prompts added, so tune's figures and
the bench's are the same measurement.
"""

import time

from ..cookbook import COOKBOOK_SYSTEM

QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."  # a long reply
WARMUP = "Warm-up: count from one to ten."  # plain text: shares no prefix with the chat-formatted prompts
WARMUP_TOKENS = 8


def decode_prompt(model_dir) -> str:
    """QUESTION as phi3nb itself would send it to the model in `model_dir`."""
    from transformers import AutoTokenizer

    from ..run.prompts import build_prompt

    return build_prompt(AutoTokenizer.from_pretrained(model_dir), QUESTION, COOKBOOK_SYSTEM)


class TimedGenai:
    """load_genai's model and its tokenizer, replying with exactly the tokens asked for.

    A reply that ended at the model's end-of-sequence would time fewer tokens than another config's, so
    the pipeline's own generation config ignores it; GenaiModel.generate_ids starts from that config.
    """

    def __init__(self, model_dir, device="CPU", ov_config=None):
        from transformers import AutoTokenizer

        from ..run.genai import load_genai

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = load_genai(model_dir, device, ov_config=ov_config)
        config = self.model.pipe.get_generation_config()
        config.ignore_eos, config.max_new_tokens = True, 1  # genai wants a length with it; each reply sets its own
        self.model.pipe.set_generation_config(config)

    def reply(self, ids, n):
        """(ttft_s, tpot_s, tokens, reply text) for prompt token ids, exactly n new tokens, greedy."""
        from ..run.streaming import CallbackStreamer, decode_complete

        streamer = CallbackStreamer(self.tokenizer, lambda piece: None)
        start = time.perf_counter()
        new = self.model.generate_ids(ids, [], {"max_new_tokens": n, "do_sample": False}, streamer)
        ended = time.perf_counter()
        first = streamer.first_token_at
        tpot = (ended - first) / (streamer.tokens - 1) if streamer.tokens > 1 else float("nan")
        return first - start, tpot, streamer.tokens, decode_complete(self.tokenizer, new)

    def decode(self, prompt, n):
        """(ttft_s, tpot_s, tokens) for `prompt` (already chat-formatted)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return self.reply(ids, n)[:3]

    def close(self):
        del self.model
