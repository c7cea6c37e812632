"""One backend, measured in a process of its own: `python -m phi3nb.bench.worker JOB.json OUT.json`.

A fresh process per backend keeps peak RSS attributable and keeps one engine's threads
and caches from warming or slowing the next.
"""

import gc
import json
import sys
import time
import traceback

from .stats import peak_rss_mb, summarize
from .workload import (CHAT_NEW_TOKENS, CHAT_TURNS, PREFILL_LENGTHS, QUESTION, WARMUP, WARMUP_TOKENS,
                       long_prompt_ids, render)

BACKENDS = {
    "genai": ("backend_genai", "GenaiBackend"),
    "optimum": ("backend_optimum", "OptimumBackend"),
    "llama.cpp": ("backend_llamacpp", "LlamaCppBackend"),
}


def backend_class(kind):
    from importlib import import_module

    module, cls = BACKENDS[kind]
    return getattr(import_module(f"{__package__}.{module}"), cls)


def decode_prompt(model_dir) -> str:
    from transformers import AutoTokenizer

    return render(AutoTokenizer.from_pretrained(model_dir), QUESTION)


def measure(job) -> dict:
    """Load, warm up, decode `new_tokens`, a 5-turn chat, then fresh long prompts; `runs` times, each a fresh load."""
    cls = backend_class(job["kind"])
    prompt = job.get("prompt") or decode_prompt(job["model_dir"])
    long_prompts = {}
    if job.get("prefill", PREFILL_LENGTHS):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(job["model_dir"])
        long_prompts = {n: long_prompt_ids(tokenizer, n) for n in job.get("prefill", PREFILL_LENGTHS)}
    runs = {k: [] for k in ("load_s", "ttft_ms", "tpot_ms", "decode_tok_s")}
    prefill = {n: [] for n in long_prompts}
    turns, peak = [], None
    for _ in range(job.get("runs", 3)):
        start = time.perf_counter()
        backend = cls(job)
        runs["load_s"].append(time.perf_counter() - start)
        backend.decode(WARMUP, WARMUP_TOKENS)
        ttft, tpot, n = backend.decode(prompt, job.get("new_tokens", 128))
        runs["ttft_ms"].append(ttft * 1e3)
        runs["tpot_ms"].append(tpot * 1e3)
        runs["decode_tok_s"].append(1.0 / tpot)
        if job.get("chat", True):
            turns.append([t * 1e3 for t in backend.chat_ttfts(job.get("chat_tokens", CHAT_NEW_TOKENS), CHAT_TURNS)])
        peak = peak or peak_rss_mb()  # before any long prompt: the memory of decoding and chatting
        for n, ids in long_prompts.items():
            prefill[n].append(backend.first_token_s(ids) * 1e3)
        backend.close()
        del backend
        gc.collect()
    result = {k: summarize(v)["mean"] for k, v in runs.items()}
    result["spread"] = {k: summarize(v) for k, v in runs.items()}
    if turns:
        result["ttft_by_turn_ms"] = [summarize(col)["mean"] for col in zip(*turns)]
    if prefill:
        result["prefill_ttft_ms"] = {str(n): summarize(v)["mean"] for n, v in prefill.items()}
        result["spread"]["prefill_ttft_ms"] = {str(n): summarize(v) for n, v in prefill.items()}
    result["peak_rss_mb"] = peak or peak_rss_mb()
    if prefill:
        result["prefill_peak_rss_mb"] = peak_rss_mb()
    result["new_tokens"] = n
    return result


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(open(argv[0]).read())
    try:
        result = measure(job)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which prints it in the table
        result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    with open(argv[1], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
