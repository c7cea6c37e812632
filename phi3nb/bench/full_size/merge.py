"""The full-size bench's rounds merged: a summary per figure and row, memory per phase, and the speed ratios."""

from .prepare import LLAMA


def summary(values) -> dict:
    """summarize() of the rounds' values plus their median and the values themselves (None: not run)."""
    import statistics

    from ..stats import summarize

    vals = [v for v in values if v is not None]
    return {**summarize(vals), "median": statistics.median(vals) if vals else None, "per_round": list(values)}


def _ok(results):
    return [r if r is not None and "error" not in r else None for r in results]


def merge_engine(results) -> dict:
    """One row's rounds as one result: a summary per figure, the memory of the round with the largest peak."""
    ok = _ok(results)
    if not any(ok):
        done = [r for r in results if r is not None]
        return {"error": done[0]["error"] if done else "not run"}
    out = {}
    for key in ("load_s", "load_cpu_s", "first_ttft_ms", "later_ttft_ms", "tpot_ms", "decode_tok_s"):
        if any(r and key in r for r in ok):
            out[key] = summary([r.get(key) if r else None for r in ok])
    lengths = sorted({n for r in ok if r for n in r.get("prefill_ttft_ms", {})}, key=int)
    if lengths:
        out["prefill_ttft_ms"] = {n: summary([(r or {}).get("prefill_ttft_ms", {}).get(n) for r in ok])
                                  for n in lengths}
    chats = [r["chat_ttft_by_turn_ms"] for r in ok if r and r.get("chat_ttft_by_turn_ms")]
    if chats:
        out["chat_ttft_by_turn_ms"] = [summary(turn) for turn in zip(*chats)]
    phases = {}
    for r in ok:
        for phase, peaks in ((r or {}).get("memory", {}).get("phases") or {}).items():
            if peaks["rss_mb"] and peaks["rss_mb"] > (phases.get(phase) or {}).get("rss_mb", 0):
                phases[phase] = peaks
    out["memory"] = phases
    out["hwm_mb"] = max((r["memory"]["hwm_mb"] or 0 for r in ok if r and r.get("memory")), default=None)
    sources = {r["memory"].get("peak_source") for r in ok if r and r.get("memory")}
    if sources - {None}:  # memwatch's: "peak_wset" (the OS's exact peak) or "sampled"; none before psutil: VmHWM
        out["peak_source"] = "/".join(sorted(sources - {None}))
    configs = [r["ov_config"] for r in ok if r and "ov_config" in r]
    if configs:  # the pipeline's properties; every round builds the same, else each round's
        out["ov_config"] = configs[0] if all(c == configs[0] for c in configs) else configs
    out["rounds"] = sum(1 for r in ok if r)
    failed = [{"round": i, "error": r["error"]} for i, r in enumerate(results) if r is not None and "error" in r]
    if failed:
        out["failed_rounds"] = failed
    return out


def _steps(results) -> dict:
    """The load group's rounds as {step: [its result per round]}, in the steps' order."""
    names = dict.fromkeys(n for r in results if r for n in r.get("steps", {}))
    return {name: [(r or {}).get("steps", {}).get(name) for r in results] for name in names}


def merge_loads(results) -> dict:
    """The load group's rounds as {step: merged row}."""
    return {name: merge_engine(per_round) for name, per_round in _steps(results).items()}


def _column(results, key, sub=None):
    col = []
    for r in _ok(results):
        v = (r or {}).get(key)
        col.append(v.get(sub) if isinstance(v, dict) else v)
    return col


def ratios(rounds, loads) -> dict:
    """{"A / B": {figure: speed_ratio}} round by round (B's time / A's; > 1: A is faster): every OpenVINO row
    against llama.cpp on each time they share, the chat's path against the cookbook's, and the loads."""
    from ..stats import speed_ratio

    out = {}

    def pair(a, b, ra, rb):
        figures = {}
        for key in ("tpot_ms", "first_ttft_ms", "later_ttft_ms", "load_s"):
            figures[key] = speed_ratio(_column(ra, key), _column(rb, key))
        lengths = {n for r in _ok(ra) + _ok(rb) if r for n in r.get("prefill_ttft_ms", {})}
        for n in sorted(lengths, key=int):
            figures[f"prefill_ttft_ms {n}"] = speed_ratio(_column(ra, "prefill_ttft_ms", n),
                                                          _column(rb, "prefill_ttft_ms", n))
        figures = {k: v for k, v in figures.items() if v["n"]}
        if figures:
            out[f"{a} / {b}"] = figures

    for name in rounds:
        if name != LLAMA and LLAMA in rounds:
            pair(name, LLAMA, rounds[name], rounds[LLAMA])
    if "genai-chat" in rounds and "optimum-cookbook" in rounds:
        pair("genai-chat", "optimum-cookbook", rounds["genai-chat"], rounds["optimum-cookbook"])
    step = _steps(loads)
    for kind in ("cold", "warm"):
        if f"genai {kind}" in step and f"{LLAMA} {kind}" in step:
            pair(f"genai {kind}", f"{LLAMA} {kind}", step[f"genai {kind}"], step[f"{LLAMA} {kind}"])
    return out
