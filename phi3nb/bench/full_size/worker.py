"""One step of `phi3nb bench --full-size` in a fresh process: `python -m phi3nb.bench.full_size.worker JOB OUT`.

Steps: "standin" (write the random full-size Phi-3), "export" (phi3nb.export_model), "gguf" (the
bench's GGUF writer + llama.cpp's Q4_K_M quantizer), and the timed runs of an engine ("optimum",
"genai", "llama.cpp"): load, the first reply of the fresh pipeline, a later message of the same
length and its decode, the 5-turn chat, fresh long prompts; with this process's memory per phase.
"""

import json
import os
import sys
import time
import traceback
from pathlib import Path

from ..memwatch import MemorySampler
from ..workload import CHAT_TURNS, long_prompt_ids
from ..worker import backend_class, preload
from .long_context import long_chat, make_phi35

FIRST_TOKENS = 32  # the first reply's and the later message's prompt length
FIRST_LEAD, LATER_LEAD = "First message.\n", "A later message.\n"  # no common prefix: nothing cached is reused


def evict_page_cache(paths) -> int:
    """Ask the kernel to drop the cached pages of every file under `paths` (posix_fadvise DONTNEED; no root
    needed, pages another process maps stay), so the next load reads from disk. Returns the bytes asked for.
    Linux only: run.load_steps asks for it only where os.posix_fadvise exists."""
    total = 0
    for path in map(Path, paths):
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for f in files:
            fd = os.open(f, os.O_RDONLY)
            try:
                try:
                    os.fsync(fd)  # dirty pages cannot be dropped
                except OSError:
                    pass
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                total += os.fstat(fd).st_size
            finally:
                os.close(fd)
    return total


def make_standin(job) -> dict:
    from ...standins.phi3_random import full_size_standin, parameter_count

    hf = full_size_standin(job["root"], log=lambda m: print(m, flush=True))
    return {"hf_dir": str(hf), "parameters": parameter_count(hf)}


def export(job) -> dict:
    from phi3nb import export_model

    start = time.perf_counter()
    out = export_model(job["source"], job["out"], **job["preset"], trust_remote_code=job["trust_remote_code"])
    return {"model_dir": str(out), "call_s": time.perf_counter() - start}


def gguf(job) -> dict:
    from ..gguf_writer import make_quantized_gguf

    start = time.perf_counter()
    out = make_quantized_gguf(job["hf_dir"], job["out"], job["ftype"], log=lambda m: print(m, flush=True))
    return {"gguf": str(out), "call_s": time.perf_counter() - start}


def run_engine(job) -> dict:
    """Times and memory of one engine, a fresh process from load to the last long prompt (units in the keys)."""
    from transformers import AutoTokenizer

    sampler = MemorySampler(interval=job.get("sample_s", 0.2)).start("start")
    preload(job["kind"])
    tokenizer = AutoTokenizer.from_pretrained(job["tokenizer_dir"])
    first = long_prompt_ids(tokenizer, FIRST_TOKENS, FIRST_LEAD)
    later = long_prompt_ids(tokenizer, FIRST_TOKENS, LATER_LEAD)
    long = {n: long_prompt_ids(tokenizer, n) for n in job.get("prefill", ())}
    out = {"evicted_mb": evict_page_cache(job["evict"]) / 1e6 if job.get("evict") else None}

    sampler.phase("load")
    start, cpu = time.perf_counter(), time.process_time()
    backend = backend_class(job["kind"])(job)
    out["load_s"] = time.perf_counter() - start
    out["load_cpu_s"] = time.process_time() - cpu  # every thread's: / load_s is how many cores the load kept busy
    if job["kind"] == "genai":  # what load_genai chose when the job left it to it (ov_config None)
        out["ov_config"] = backend.model.ov_config
    sampler.phase("first_reply")
    out["first_ttft_ms"] = backend.decode_ids(first, 2)[0] * 1e3  # 2 tokens: the decode step's first run too
    if job.get("new_tokens"):
        sampler.phase("decode")
        ttft, tpot, n = backend.decode_ids(later, job["new_tokens"])
        out.update(later_ttft_ms=ttft * 1e3, tpot_ms=tpot * 1e3, decode_tok_s=1.0 / tpot, decode_tokens=n)
    if job.get("chat_tokens"):
        sampler.phase("chat")
        out["chat_ttft_by_turn_ms"] = [t * 1e3 for t in backend.chat_ttfts(job["chat_tokens"], CHAT_TURNS)]
    if long:
        sampler.phase("prefill")
        out["prefill_ttft_ms"] = {str(n): backend.first_token_s(ids) * 1e3 for n, ids in long.items()}
    backend.close()
    out["memory"] = sampler.stop()
    return out


STEPS = {"standin": make_standin, "export": export, "gguf": gguf, "phi35-standin": make_phi35, "long-chat": long_chat}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(argv[0]).read_text())
    try:
        result = STEPS.get(job["kind"], run_engine)(job)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which prints it in the report
        result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-2000:]}
    Path(argv[1]).write_text(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
