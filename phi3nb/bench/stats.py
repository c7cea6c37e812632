"""Summaries of repeated measurements, and the process's peak memory."""

import math

RATIO_CONVENTION = ("A / B: how many times faster A is than B, from the same round's runs: B's time per token "
                    "(or per layer) / A's. > 1: A is faster. min, median, max over the rounds where both ran.")


def summarize(values) -> dict:
    """{"mean", "sd", "min", "max", "n"} of the finite values (sd is the sample deviation)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else 0.0
    return {"mean": mean, "sd": sd, "min": min(vals), "max": max(vals), "n": len(vals)}


def peak_rss_mb(sampler) -> float:
    """Peak resident memory so far of the process `sampler` (a started memwatch.MemorySampler) watches, in MB.

    One design on every OS, a sampler running through the runs: it takes Windows' exact peak working set where
    psutil gives it, else its largest RSS sample (psutil has no peak on Linux or macOS; ru_maxrss is POSIX-only
    and counts a big parent's size in a child it exec'd). nan if the process could not be read.
    """
    peak = sampler.peak_mb()
    return float("nan") if peak is None else peak


def aggregate(raw: dict) -> dict:
    """A backend's result from its per-run values (worker.measure's "raw", or several rounds' merged).

    Every timing is the mean over the runs, with its spread under "spread"; ttft_by_turn_ms is the
    mean of each turn; peak_rss_mb the largest of the processes' peaks. "raw" stays in the result.
    """
    timed = ("load_s", "ttft_ms", "tpot_ms", "decode_tok_s")
    result = {k: summarize(raw[k])["mean"] for k in timed}
    result["spread"] = {k: summarize(raw[k]) for k in timed}
    if raw.get("ttft_by_turn_ms"):
        result["ttft_by_turn_ms"] = [summarize(col)["mean"] for col in zip(*raw["ttft_by_turn_ms"])]
    if raw.get("prefill_ttft_ms"):
        result["prefill_ttft_ms"] = {n: summarize(v)["mean"] for n, v in raw["prefill_ttft_ms"].items()}
        result["spread"]["prefill_ttft_ms"] = {n: summarize(v) for n, v in raw["prefill_ttft_ms"].items()}
    result["peak_rss_mb"] = summarize(raw["peak_rss_mb"])["max"]
    result["spread"]["peak_rss_mb"] = summarize(raw["peak_rss_mb"])
    if raw.get("prefill_peak_rss_mb"):
        result["prefill_peak_rss_mb"] = summarize(raw["prefill_peak_rss_mb"])["max"]
    for key in ("peak_source", "peak_sample_s"):  # what the peaks are: memwatch.MemorySampler.summary() says
        if key in raw:
            result[key] = raw[key]
    result["new_tokens"] = raw["new_tokens"]
    result["raw"] = raw
    return result


def merge_rounds(per_round: list) -> dict:
    """One backend's worker results, one per round (None: not run), as one result: aggregate() of all
    the rounds' runs, "raw" noting each run's round; rounds that failed listed under "failed_rounds".
    Every round failed: {"error"} of the first."""
    done = [(r, res) for r, res in enumerate(per_round) if res is not None]
    ok = [(r, res) for r, res in done if "error" not in res]
    if not ok:
        return {"error": done[0][1]["error"] if done else "not run"}
    raw = {"round": []}
    for r, res in ok:
        runs = res["raw"]
        raw["round"] += [r] * len(runs["load_s"])
        for key, values in runs.items():
            if isinstance(values, dict):
                merged = raw.setdefault(key, {})
                for sub, vals in values.items():
                    merged.setdefault(sub, []).extend(vals)
            elif isinstance(values, list):
                raw.setdefault(key, []).extend(values)
            else:
                raw[key] = values
    result = aggregate(raw)
    result["rounds"] = len(ok)
    failed = [{"round": r, "error": res["error"]} for r, res in done if "error" in res]
    if failed:
        result["failed_rounds"] = failed
    return result


def per_round(results: list, key) -> list:
    """results[r][key] per round, None where the round failed or did not run (for one-run rounds)."""
    return [res[key] if res is not None and "error" not in res else None for res in results]


def speed_ratio(times_a: list, times_b: list) -> dict:
    """How many times faster A is than B, round by round: B's time / A's time in the same round
    (a time per token or per layer), so > 1 means A is faster. A round missing either side (or
    with a time <= 0, from a disturbed run) counts as None and is left out of min/median/max."""
    import statistics

    ratios = [b / a if a is not None and b is not None and a > 0 and b > 0 else None
              for a, b in zip(times_a, times_b)]
    vals = [v for v in ratios if v is not None]
    return {"per_round": ratios, "min": min(vals, default=None),
            "median": statistics.median(vals) if vals else None, "max": max(vals, default=None), "n": len(vals)}
