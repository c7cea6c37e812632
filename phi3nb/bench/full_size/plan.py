"""What the full-size bench runs by default, and how long that took on a 2-core AMD EPYC (AVX2, no
VNNI), added up into the plan printed before anything starts."""

from .prepare import GGUF_TYPE
from .worker import FIRST_TOKENS

ROUNDS, NEW_TOKENS, CHAT_TOKENS, PREFILL = 2, 32, 16, (128, 1000, 3000)
LONG = 128  # fresh prompts longer than this run in the first round only: 1,000 and 3,000 tokens take minutes on 2 cores
FAST_PREFILL_MAX = 1000  # the fast presets' longest prompt; the chat's path and llama.cpp get every length

# What each step took on that EPYC with this stand-in, as a full run there measured it on 2026-12-02
# (full-size-avx2.json; fast-se's extra ~18 min of export is an estimate). Prefill per token is the 1,000- and
# 3,000-token prompts' total over their 4,000 tokens; load is a warm load, load_genai's warm-up included (the
# cookbook's path loads in 3.5 s but then waits at its first reply). PROCESS_S is a guess (imports).
EPYC = {"standin_s": 66, "export_s": {"cookbook": 187, "fast": 132, "fast-se": 132 + 18 * 60, "per-channel": 128,
                                      "int8": 125},
        "gguf_s": 301, "load_s": {"optimum": 3.5, "openvino": 22.0, "llama.cpp": 7.8},
        "first_reply_s": {"optimum": 17.5, "openvino": 3.9, "llama.cpp": 3.1},
        "prefill_ms": {"openvino": 111.0, "llama.cpp": 86.0}, "tpot_ms": {"openvino": 350.0, "llama.cpp": 240.0}}
PROCESS_S = 8.0
CHAT_PROMPT_TOKENS = 40  # roughly what each turn of the chat adds to the prompt


def job_seconds(job, first_round=True) -> float:
    """The issue's EPYC figures added up for one run of `job` (a group: its steps)."""
    if job["kind"] == "group":
        return sum(job_seconds(step, first_round) for step in job["steps"].values())
    engine = "llama.cpp" if job["kind"] == "llama.cpp" else "openvino"
    path = "optimum" if job["kind"] == "optimum" else engine
    rate, tpot = EPYC["prefill_ms"][engine] / 1e3, EPYC["tpot_ms"][engine] / 1e3
    s = PROCESS_S + EPYC["load_s"][path] + EPYC["first_reply_s"][path]
    if job.get("new_tokens"):
        s += FIRST_TOKENS * rate + job["new_tokens"] * tpot
    if job.get("chat_tokens"):
        s += 5 * (CHAT_PROMPT_TOKENS * rate + job["chat_tokens"] * tpot)
    return s + sum(n * rate for n in job.get("prefill", ()) if first_round or n <= LONG)


def plan(prepared_steps, jobs, rounds) -> dict:
    """{"steps": [(what, seconds or None if cached)], "estimate_s"}: what this run will do, and how long that
    took on that 2-core EPYC."""
    steps = list(prepared_steps)
    for r in range(rounds):
        names = ", ".join(jobs)
        steps.append((f"round {r + 1}/{rounds}: {names}", sum(job_seconds(j, r == 0) for j in jobs.values())))
    return {"steps": steps, "estimate_s": sum(s for _, s in steps if s)}


def prepare_plan(root, args, presets) -> list:
    """The one-off steps this run will do (seconds) or reuse (None)."""
    from ..backend_llamacpp import unavailable_reason
    from ...standins.phi3_random import PHI3_MINI_LAYERS

    hf = root / f"hf-{PHI3_MINI_LAYERS}l"
    steps = []
    if not args.model_id:
        steps.append(("stand-in", None if (hf / "config.json").exists() else EPYC["standin_s"]))
    for name in presets:
        cached = (root / f"ov-{name}").exists() and not args.re_export
        steps.append((f"export, {name} flags", None if cached else EPYC["export_s"].get(name, 190)))
    if not args.gguf and unavailable_reason() is None:
        cached = (root / f"{GGUF_TYPE.lower()}.gguf").exists() and not args.re_export
        steps.append((f"GGUF + {GGUF_TYPE}", None if cached else EPYC["gguf_s"]))
    return steps


def format_plan(p) -> str:
    lines = ["[bench] full-size plan (time each step took on a 2-core AMD EPYC, AVX2 only; process "
             "start guessed):"]
    for what, s in p["steps"]:
        lines.append(f"[bench]   {what}: " + ("cached, reused" if s is None else f"~{s / 60:.0f} min"))
    lines.append(f"[bench]   total ~{p['estimate_s'] / 60:.0f} min there; a faster CPU takes less")
    return "\n".join(lines)
