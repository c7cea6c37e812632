"""llama.cpp through llama-cpp-python, on a GGUF of the same model.

Chat turns reuse the KV cache of the longest common prefix (llama-cpp-python does this
in generate()), as genai's chat mode does.
"""

import os
import time

from .workload import CHAT_TURNS, render


def unavailable_reason():
    """None if llama_cpp imports, else why not (the bench reports it instead of failing)."""
    try:
        import llama_cpp  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not available here"
        return (f"llama_cpp is not importable ({type(e).__name__}: {e}); install it with "
                "`pip install llama-cpp-python` (see phi3nb/bench/README.md for AMX CPUs)")
    return None


def build_info():
    """Which CPU kernels this llama_cpp was built with (llama.cpp's own system line, e.g. "AVX2 = 1 |
    AVX512 = 0"), so a ratio against it says which llama.cpp it was; None if it does not import."""
    if unavailable_reason():
        return None
    import llama_cpp

    return {"system_info": llama_cpp.llama_print_system_info().decode().strip(), "module": llama_cpp.__file__}


class LlamaCppBackend:
    name = "llama.cpp"

    def __init__(self, job):
        import llama_cpp
        from transformers import AutoTokenizer

        self.threads = job.get("threads") or os.cpu_count() or 1
        self.tokenizer = AutoTokenizer.from_pretrained(job["model_dir"]) if job.get("model_dir") else None
        self.llm = llama_cpp.Llama(str(job["gguf"]), n_ctx=job.get("n_ctx", 4096), n_threads=self.threads,
                                   n_threads_batch=self.threads, verbose=False)

    def _generate(self, prompt, n, reset):
        return self._generate_tokens(self.llm.tokenize(prompt.encode(), add_bos=False, special=True), n, reset)

    def _generate_tokens(self, tokens, n, reset):
        if reset:
            self.llm.reset()  # forget the previous prompt, so nothing is reused
        stamps, ids = [], []
        start = time.perf_counter()
        for tok in self.llm.generate(tokens, temp=0.0, top_k=1, reset=True):  # never stops at EOS by itself
            stamps.append(time.perf_counter())
            ids.append(tok)
            if len(ids) == n:
                break
        tpot = (stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1 else float("nan")
        reply = self.llm.detokenize(ids).decode(errors="replace")
        return stamps[0] - start, tpot, len(ids), reply

    def decode(self, prompt, n):
        return self._generate(prompt, n, reset=True)[:3]

    def decode_ids(self, ids, n):
        """(ttft_s, tpot_s, tokens) for prompt token ids, the cache reset first."""
        return self._generate_tokens(list(ids), n, reset=True)[:3]

    def first_token_s(self, ids):
        """Time to first token of a fresh prompt: the cache is reset first."""
        return self._generate_tokens(list(ids), 1, reset=True)[0]

    def chat_ttfts(self, n, turns=CHAT_TURNS):
        history, ttfts = [], []
        self.llm.reset()
        for turn in turns:
            ttft, _, _, reply = self._generate(render(self.tokenizer, turn, history), n, reset=False)
            ttfts.append(ttft)
            history.append((turn, reply))
        return ttfts

    def close(self):
        self.llm.close()
