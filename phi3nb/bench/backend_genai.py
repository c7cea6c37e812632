"""openvino_genai through phi3nb's own path: load_genai, then GenaiModel.generate_ids with a CallbackStreamer.

That is what the chat box runs (ids from encode_chat, the KV cache of the longest common
prefix reused between turns, text streamed piece by piece), so the figures are the ones a user sees.
Its decode is phi3nb tune's (phi3nb/speed/timing.py); the bench adds a chat and long prompts.
"""

from phi3nb.speed.timing import TimedGenai

from .workload import CHAT_TURNS, SYSTEM


class GenaiBackend(TimedGenai):
    name = "genai"

    def __init__(self, job):
        super().__init__(job["model_dir"], job.get("device", "CPU"), ov_config=job.get("ov_config"))

    def decode_ids(self, ids, n):
        """(ttft_s, tpot_s, tokens) for prompt token ids."""
        return self.reply(list(ids), n)[:3]

    def first_token_s(self, ids):
        """Time to first token of a fresh prompt (it shares no prefix with the last one)."""
        return self.reply(ids, 1)[0]

    def chat_ttfts(self, n, turns=CHAT_TURNS):
        """TTFT of each turn of one conversation, encoded as the chat box does (encode_chat)."""
        from phi3nb.run.prompts import chat_messages, encode_chat

        history, ttfts = [], []
        for turn in turns:
            ids = encode_chat(self.tokenizer, chat_messages(turn, SYSTEM, history))
            ttft, _, _, reply = self.reply(ids, n)
            ttfts.append(ttft)
            history.append((turn, reply))
        return ttfts
