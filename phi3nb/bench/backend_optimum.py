"""optimum-intel's OVModelForCausalLM with transformers' generate(): what phi3nb's notebook runs.

Each chat turn re-sends the whole history (generate() keeps no cache between calls).
"""

import time

from .workload import CHAT_TURNS, render


class _Clock:
    """A transformers streamer that only notes when each new token arrives."""

    def __init__(self):
        self.stamps, self._prompt = [], True

    def put(self, value):
        if self._prompt:  # the first put is the prompt
            self._prompt = False
            return
        self.stamps.append(time.perf_counter())

    def end(self):
        pass


class OptimumBackend:
    name = "optimum"

    def __init__(self, job):
        from optimum.intel import OVModelForCausalLM
        from transformers import AutoTokenizer

        from phi3nb.cookbook import OV_CONFIG

        self.tokenizer = AutoTokenizer.from_pretrained(job["model_dir"])
        self.model = OVModelForCausalLM.from_pretrained(job["model_dir"], device=job.get("device", "CPU"),
                                                        ov_config={**OV_CONFIG, **job.get("ov_config", {})})

    def _generate(self, prompt, n):
        return self._generate_ids(self.tokenizer(prompt, add_special_tokens=False)["input_ids"], n)

    def _generate_ids(self, ids, n):
        import torch

        ids = torch.tensor([ids], dtype=torch.long)
        clock = _Clock()
        start = time.perf_counter()
        out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                  min_new_tokens=n, do_sample=False, streamer=clock,
                                  pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        s = clock.stamps
        tpot = (s[-1] - s[0]) / (len(s) - 1) if len(s) > 1 else float("nan")
        reply = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        return s[0] - start, tpot, len(s), reply

    def decode(self, prompt, n):
        return self._generate(prompt, n)[:3]

    def decode_ids(self, ids, n):
        """(ttft_s, tpot_s, tokens) for prompt token ids (generate() keeps no cache between calls)."""
        return self._generate_ids(list(ids), n)[:3]

    def first_token_s(self, ids):
        """Time to first token of a fresh prompt (generate() keeps no cache between calls)."""
        return self._generate_ids(ids, 1)[0]

    def chat_ttfts(self, n, turns=CHAT_TURNS):
        history, ttfts = [], []
        for turn in turns:
            ttft, _, _, reply = self._generate(render(self.tokenizer, turn, history), n)
            ttfts.append(ttft)
            history.append((turn, reply))
        return ttfts

    def close(self):
        del self.model
