"""One backend, measured in a process of its own: `python -m phi3nb.bench.worker JOB.json OUT.json`.

A fresh process per backend keeps peak RSS attributable and keeps one engine's threads
and caches from warming or slowing the next. The bench sends one run per job and interleaves
the backends in rounds (runner.run_rounds); `runs` > 1 times fresh loads in one process.
"""

import gc
import json
import sys
import time
import traceback

from .memwatch import MemorySampler
from .stats import aggregate, peak_rss_mb
from phi3nb.speed.timing import WARMUP, WARMUP_TOKENS, decode_prompt

from .workload import CHAT_NEW_TOKENS, CHAT_TURNS, PREFILL_LENGTHS, long_prompt_ids

BACKENDS = {
    "genai": ("backend_genai", "GenaiBackend"),
    "optimum": ("backend_optimum", "OptimumBackend"),
    "llama.cpp": ("backend_llamacpp", "LlamaCppBackend"),
}
PRELOAD = {  # module or module:attribute, imported before the clock starts
    "genai": ("openvino_genai", "phi3nb.run.genai", "transformers:AutoTokenizer"),
    "optimum": ("optimum.intel:OVModelForCausalLM", "transformers:AutoTokenizer"),
    "llama.cpp": ("llama_cpp", "transformers:AutoTokenizer"),
}
PEAK_SAMPLE_S = 0.05  # how often this process's RSS is sampled for its peak where the OS keeps none (Linux, macOS)


def backend_class(kind):
    from importlib import import_module

    module, cls = BACKENDS[kind]
    return getattr(import_module(f"{__package__}.{module}"), cls)


def preload(kind):
    """Import the backend's libraries before anything is timed, so load_s is the model's load in every run
    (each round is a fresh process; optimum-intel's import alone takes seconds)."""
    from importlib import import_module

    for name in PRELOAD[kind]:
        module, _, attr = name.partition(":")
        loaded = import_module(module)
        if attr:
            getattr(loaded, attr)


def measure(job) -> dict:
    """Load, warm up, decode `new_tokens`, a 5-turn chat, then fresh long prompts; `runs` times, each a fresh load.

    The result is stats.aggregate() of the runs: means, spreads, and the per-run values under "raw". The peaks
    are this process's, watched from its start by a memwatch.MemorySampler (peak_source says how).
    """
    sampler = MemorySampler(interval=PEAK_SAMPLE_S, uss_every=0).start()
    try:
        return _measure(job, sampler)
    finally:
        sampler.stop()


def _measure(job, sampler) -> dict:
    cls = backend_class(job["kind"])
    preload(job["kind"])
    prompt = job.get("prompt") or decode_prompt(job["model_dir"])
    long_prompts = {}
    if job.get("prefill", PREFILL_LENGTHS):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(job["model_dir"])
        long_prompts = {n: long_prompt_ids(tokenizer, n) for n in job.get("prefill", PREFILL_LENGTHS)}
    raw = {k: [] for k in ("load_s", "ttft_ms", "tpot_ms", "decode_tok_s", "ttft_by_turn_ms", "peak_rss_mb")}
    prefill = {str(n): [] for n in long_prompts}
    for _ in range(job.get("runs", 3)):
        start = time.perf_counter()
        backend = cls(job)
        raw["load_s"].append(time.perf_counter() - start)
        backend.decode(WARMUP, WARMUP_TOKENS)
        ttft, tpot, n = backend.decode(prompt, job.get("new_tokens", 128))
        raw["ttft_ms"].append(ttft * 1e3)
        raw["tpot_ms"].append(tpot * 1e3)
        raw["decode_tok_s"].append(1.0 / tpot)
        if job.get("chat", True):
            turns = backend.chat_ttfts(job.get("chat_tokens", CHAT_NEW_TOKENS), CHAT_TURNS)
            raw["ttft_by_turn_ms"].append([t * 1e3 for t in turns])
        if not raw["peak_rss_mb"]:  # the first run, before any long prompt: the memory of decoding and chatting
            raw["peak_rss_mb"].append(peak_rss_mb(sampler))
        for n_tokens, ids in long_prompts.items():
            prefill[str(n_tokens)].append(backend.first_token_s(ids) * 1e3)
        backend.close()
        del backend
        gc.collect()
    if prefill:
        raw["prefill_ttft_ms"] = prefill
        raw["prefill_peak_rss_mb"] = [peak_rss_mb(sampler)]
    raw["new_tokens"] = n
    raw["peak_source"], raw["peak_sample_s"] = sampler.peak_source, sampler.interval
    return aggregate(raw)


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
