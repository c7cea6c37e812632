"""`phi3nb bench --long-context`: a Phi-3.5-mini-shaped chat at full size, past LongRoPE's switch.

The full-size stand-in's random weights with Phi-3.5-mini-instruct's config (standins.phi3_random.phi35_standin)
are exported with the cookbook's flags; then one chat, as the chat box holds it (load_genai's defaults and
chat_turn), grows by pasted documents of about DOC_TOKENS tokens and short replies to the last checkpoint.
Per turn: the conversation's length, the first token (its prefill), the decode speed, the re-read at the
switch and the process's memory; so a host sees what the crossing turn costs and what a laptop holds.
"""

import datetime
import json
import time
from pathlib import Path

from .prepare import Records, _log, watched, work_root

DOC_TOKENS = 1000  # a pasted page or two of text per turn
REPLY_TOKENS = 48
CHECKPOINTS = (4096, 8192, 16384)  # the conversation's length (tokens) at which memory is reported
HEADROOM_GB = 2.0  # what a laptop keeps for the system and a browser, as the laptop table's "yes" does
LAPTOPS_GB = (8, 16)


def make_phi35(job) -> dict:
    """Worker step: the Phi-3.5-mini-shaped stand-in (the full-size stand-in's weights, linked)."""
    from ...standins.phi3_random import phi35_standin

    return {"hf_dir": str(phi35_standin(job["root"], log=lambda m: print(m, flush=True)))}


def long_chat(job) -> dict:
    """Worker step: load as the chat does, then grow one conversation turn by turn to job["upto"] tokens
    (job's doc_tokens, reply_tokens and checkpoints default to this module's)."""
    from phi3nb import load_genai, load_tokenizer
    from phi3nb.chat.turn import chat_turn
    from phi3nb.export.fit import kv_bytes_per_token, kv_cache_precision

    from ..memwatch import read_memory
    from ..workload import long_prompt_ids

    folder, status = Path(job["model_dir"]), read_memory  # this process's memory now
    start = time.perf_counter()
    model = load_genai(folder, device="CPU")
    tok = load_tokenizer(folder)
    precision = kv_cache_precision(folder, "CPU")
    doc, reply = job.get("doc_tokens", DOC_TOKENS), job.get("reply_tokens", REPLY_TOKENS)
    out = {"checkpoints": list(job.get("checkpoints", CHECKPOINTS)), "load_s": time.perf_counter() - start, "loaded": _mb(status()), "context": model.config.max_position_embeddings,
           "context_note": model.context_note, "switch": model.switch, "follows_switch": model.follows_switch,
           "kv_precision": precision,
           "kv_bytes_per_token": kv_bytes_per_token(json.loads((folder / "config.json").read_text()), precision),
           "turns": []}
    history, part = [], 0
    while model.held_tokens < job["upto"]:
        part += 1
        text = tok.decode(long_prompt_ids(tok, doc, f"Part {part} of the document to read.\n"))
        turn = chat_turn(model, tok, history, text + "\nSummarise this part.", system="", max_new_tokens=reply)
        work, held = turn.recompute, model.held_tokens
        decode = turn.ended - (turn.first_token_at or turn.ended)
        if work is not None and work.started >= (turn.first_token_at or 0):
            decode -= work.ended - work.started
        row = {"held": held, "tokens": turn.tokens, "finish": turn.finish, "wall_s": turn.ended - turn.started,
               "first_token_s": (turn.first_token_at - turn.started) if turn.first_token_at else None,
               "decode_tok_s": (turn.tokens - 1) / decode if turn.tokens > 1 and decode > 0 else None,
               "reread": {"tokens": work.tokens, "s": work.ended - work.started} if work else None,
               **_mb(status())}
        row["rebuilds"] = model.rebuilds  # fresh pipelines so far (the switch; rope_switch.py)
        out["turns"].append(row)
        print(f"[bench] {held:,} tokens held: turn {row['wall_s']:.1f} s, first token {row['first_token_s']:.1f} s, "
              f"{row['tokens']} tokens at {row['decode_tok_s'] or 0:.1f}/s, RSS {row['rss_mb']:,.0f} MB"
              + (f", re-read {work.tokens:,} tokens in {work.ended - work.started:.1f} s" if work else ""), flush=True)
    return out


def _mb(status) -> dict:
    """rss_mb, anon_mb, file_mb of a memwatch.read_memory() (as its module says, per OS; left out where None)."""
    return {f"{key}_mb": status[key] / 1e6 for key in ("rss", "anon", "file") if status.get(key) is not None}


def summary(chat) -> dict:
    """The figures a reader sees: decode before and after the switch, the crossing turn, memory at each
    checkpoint, the measured bytes a token adds, and what that extrapolates to for an 8 and a 16 GB laptop."""
    turns, checkpoints = chat["turns"], chat["checkpoints"]
    cross = next((i for i, t in enumerate(turns) if t["reread"]), None)
    if cross is None or cross == 0 or cross + 1 >= len(turns):
        return {"error": "no turn re-read the conversation at the switch, or none before or after it"}
    before, crossing, after = turns[cross - 1], turns[cross], turns[cross + 1]
    at = {}
    for c in checkpoints:
        row = next((t for t in turns if t["held"] >= c), None)
        if row:
            at[str(c)] = {"held": row["held"], "rss_mb": row["rss_mb"], "anon_mb": row.get("anon_mb")}
    if len(at) < 2:
        return {"error": f"the chat reached fewer than two of the checkpoints {checkpoints}"}
    first, last = at[str(checkpoints[0])], at[str(max(checkpoints))]
    per_token = (last["rss_mb"] - first["rss_mb"]) * 1e6 / (last["held"] - first["held"])
    holds = {str(gb): int((gb * 1e9 - HEADROOM_GB * 1e9 - (first["rss_mb"] * 1e6 - per_token * first["held"]))
                          / per_token) for gb in LAPTOPS_GB}
    return {"decode_before": {"held": before["held"], "tok_s": before["decode_tok_s"]},
            "crossing": {"held": crossing["held"], "reread_tokens": crossing["reread"]["tokens"],
                         "reread_s": crossing["reread"]["s"], "wall_s": crossing["wall_s"],
                         "previous_wall_s": before["wall_s"]},
            "decode_after": {"held": after["held"], "tok_s": after["decode_tok_s"]},
            "decode_last": {"held": turns[-1]["held"], "tok_s": turns[-1]["decode_tok_s"]},
            "memory": at, "measured_bytes_per_token": per_token,
            "computed_kv_bytes_per_token": chat["kv_bytes_per_token"],
            "laptop_holds_tokens": holds, "laptop_rule": f"RSS extrapolated linearly from the checkpoints, "
                                                         f"{HEADROOM_GB:g} GB kept for the system and a browser"}


def run(args) -> dict:
    """Stand-in, export (each once, reused), then the chat in a fresh process; the JSON is the run's result."""
    from phi3nb.errors import Phi3nbError
    from phi3nb.export.presets import PRESETS
    from phi3nb.run.cpu import cpu_info

    from ..report import publish

    started, root = time.perf_counter(), work_root(args)
    cpu = cpu_info(all_flags=True)
    records = Records(root)
    _log(f"[bench] the Phi-3.5-mini-shaped stand-in under {root}...")
    res = watched({"kind": "phi35-standin", "root": str(root)}, [root])
    if "error" in res:
        raise Phi3nbError(f"The stand-in could not be written ({res['error']}); see above. Check the free memory "
                          f"and disk for {root}, or pass --work-dir elsewhere.")
    hf, target = Path(res["hf_dir"]), root / "ov-phi35-cookbook"
    if args.re_export or not (target / "openvino_model.xml").exists():
        _log("[bench] exporting it with the cookbook's flags (a fresh process, watched)...")
        job = {"kind": "export", "source": str(hf), "out": str(target), "preset": PRESETS["cookbook"],
               "trust_remote_code": False}
        made = watched(job, [root])
        if "error" in made:
            raise Phi3nbError(f"The export failed ({made['error']}); see above.")
        records.put("export-phi35-cookbook", made, cpu)
    upto = max(CHECKPOINTS)
    _log(f"[bench] one chat to {upto:,} tokens: {DOC_TOKENS:,}-token documents, {REPLY_TOKENS}-token replies...")
    chat = watched({"kind": "long-chat", "model_dir": str(target), "upto": upto})
    if "error" in chat:
        raise Phi3nbError(f"The chat failed ({chat['error']}); see above.")
    result = {"meta": {"mode": "long-context", "cpu": cpu,
                       "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                       "command": "phi3nb bench --long-context", "doc_tokens": DOC_TOKENS,
                       "reply_tokens": REPLY_TOKENS, "elapsed_s": time.perf_counter() - started},
              "export": records.get("export-phi35-cookbook", "exported by an earlier run"), "chat": chat,
              "summary": summary(chat)}
    return publish(result, report(result), args.json)


def report(result) -> str:
    s = result["summary"]
    if "error" in s:
        return f"[bench] long context: {s['error']}"
    c = s["crossing"]
    lines = [f"Long context (Phi-3.5-mini shape, cookbook export, load_genai's defaults), {result['meta']['date']}",
             f"  decode at {s['decode_before']['held']:,} tokens: {s['decode_before']['tok_s']:.1f} tokens/s; "
             f"at {s['decode_after']['held']:,}: {s['decode_after']['tok_s']:.1f} tokens/s",
             f"  crossing turn: {c['wall_s']:.1f} s (the turn before: {c['previous_wall_s']:.1f} s), re-read "
             f"{c['reread_tokens']:,} tokens in {c['reread_s']:.1f} s"]
    lines += [f"  RSS at {int(k):,}+ tokens ({m['held']:,}): {m['rss_mb'] / 1e3:.2f} GB" for k, m in s["memory"].items()]
    lines.append(f"  {s['measured_bytes_per_token']:,.0f} bytes a token measured ({s['computed_kv_bytes_per_token']:,.0f} "
                 f"computed for the KV cache); laptops: " + ", ".join(
                     f"{gb} GB about {n:,} tokens" if n > 0 else f"{gb} GB not even the first checkpoint's"
                     for gb, n in s["laptop_holds_tokens"].items()))
    return "\n".join(lines)
