"""openvino_genai.LLMPipeline: C++ generation loop, OpenVINO tokenizers, KV cache kept across chat turns."""

from .workload import CHAT_TURNS, SYSTEM


class GenaiBackend:
    name = "genai"

    def __init__(self, job):
        import openvino_genai

        self._g = openvino_genai
        self.pipe = openvino_genai.LLMPipeline(str(job["model_dir"]), job.get("device", "CPU"),
                                               **job.get("ov_config", {}))

    def _config(self, n, template):
        cfg = self.pipe.get_generation_config()
        cfg.max_new_tokens = cfg.min_new_tokens = n
        cfg.ignore_eos, cfg.do_sample = True, False
        cfg.apply_chat_template = template
        return cfg

    def decode(self, prompt, n):
        """(ttft_s, tpot_s, tokens) for `prompt` (already chat-formatted)."""
        out = self.pipe.generate([prompt], self._config(n, False))
        pm = out.perf_metrics
        return pm.get_ttft().mean / 1e3, pm.get_tpot().mean / 1e3, pm.get_num_generated_tokens()

    def chat_ttfts(self, n, turns=CHAT_TURNS):
        """TTFT of each turn of one conversation; genai keeps the history's KV cache between turns."""
        ttfts = []
        self.pipe.start_chat(SYSTEM)
        try:
            for turn in turns:
                out = self.pipe.generate([turn], self._config(n, True))  # a list: DecodedResults, with perf_metrics
                ttfts.append(out.perf_metrics.get_ttft().mean / 1e3)
        finally:
            self.pipe.finish_chat()
        return ttfts

    def close(self):
        del self.pipe
