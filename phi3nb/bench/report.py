"""The bench's results as plain-text tables."""

from phi3nb.run.cpu import format_cpu, quantizes_activations


def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def _pm(spread, key, fmt="{:.1f}"):
    s = (spread or {}).get(key) or {}
    if s.get("mean") is None:
        return "-"
    return f"{fmt.format(s['mean'])}±{fmt.format(s['sd'] or 0)}"


def format_ratio(r: dict, rounds=None) -> str:
    """"median (min-max over N rounds)"; "of M" when some rounds lacked either side."""
    if not r.get("n"):
        return "- (no round where both ran)"
    of = f" of {rounds}" if rounds and rounds != r["n"] else ""
    return f"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f} over {r['n']}{of} round{'s' if r['n'] != 1 else ''})"


def format_report(result: dict) -> str:
    lines = []
    meta = result.get("meta", {})
    if "rounds" in meta:
        how = f"{meta['rounds']} rounds, each backend once per round in a fresh process, order rotated;"
    else:  # a JSON from before rounds: each backend's runs in a row
        how = f"{meta.get('runs', '?')} runs,"
    lines.append(f"phi3nb bench: {meta.get('model_dir', '?')} ({how} {meta.get('new_tokens', '?')} new tokens, "
                 f"{meta.get('threads', '?')} threads)")
    lines.append(format_cpu(meta.get("cpu")))
    if quantizes_activations(meta.get("cpu") or {}) is False:
        lines.append("No VNNI on this CPU: OpenVINO multiplies int4 and int8 weights in f32 here, llama.cpp in int8, so "
                     "expect about llama.cpp's speed at best (phi3nb/bench/README.md, \"Without AVX-512\").")
    lines.append("")
    head = f"{'backend':<14}{'load s':>12}{'TTFT ms':>14}{'TPOT ms':>12}{'tok/s':>12}{'RSS MB':>9}{'roofline':>10}"
    lines += [head, "-" * len(head)]
    for name, b in result.get("backends", {}).items():
        if "error" in b:
            lines.append(f"{name:<14}  not measured: {b['error']}")
            continue
        sp = b.get("spread", {})
        lines.append(f"{name:<14}{_pm(sp, 'load_s', '{:.2f}'):>12}{_pm(sp, 'ttft_ms', '{:.0f}'):>14}"
                     f"{_pm(sp, 'tpot_ms'):>12}{_pm(sp, 'decode_tok_s'):>12}{_f(b.get('peak_rss_mb'), '{:.0f}'):>9}"
                     f"{_f(b.get('roofline_fraction') and 100 * b['roofline_fraction'], '{:.0f}%'):>10}")
    lines.append("")
    lines.append("TTFT by chat turn (ms), history growing:")
    for name, b in result.get("backends", {}).items():
        if b.get("ttft_by_turn_ms"):
            lines.append(f"  {name:<14}" + "".join(f"{t:>8.0f}" for t in b["ttft_by_turn_ms"]))
    prefill = result.get("prefill_ttft_ms")
    if prefill:
        lengths = sorted({n for v in prefill.values() for n in v}, key=int)
        lines.append("")
        lines.append(f"TTFT of a fresh prompt (ms), {' / '.join(lengths)} tokens:")
        for name, v in prefill.items():
            sp = result["backends"][name].get("spread", {}).get("prefill_ttft_ms", {})
            lines.append(f"  {name:<14}" + "".join(f"{_pm(sp, n, '{:.0f}'):>14}" for n in lengths))
    r = result.get("roofline")
    if r:
        lines.append("")
        lines.append(f"Roofline: read bandwidth {r['bandwidth_gb_s']:.1f} GB/s, weights "
                     f"{r['weight_bytes_per_token'] / 1e6:.0f} MB/token -> at most {r['limit_tok_s']:.0f} tok/s "
                     "(each backend's fraction uses its own weight file)")
    s = result.get("phi3_slice")
    if s:
        lines.append("")
        lines.append("Phi-3-mini per layer (random 2- vs 4-layer slices; 32 layers extrapolated):")
        head = f"  {'engine/format':<26}{'ms/layer':>10}{'MB/layer':>10}{'GB/s':>8}{'tok/s @32L':>12}"
        lines.append(head)
        for name, v in s.items():
            if "error" in v:
                lines.append(f"  {name:<26}not measured: {v['error']}")
            else:
                lines.append(f"  {name:<26}{_f(v['ms_per_layer'], '{:.2f}'):>10}{_f(v['mb_per_layer']):>10}"
                             f"{_f(v['gb_s']):>8}{_f(v['extrapolated_tok_s']):>12}")
    ratios = result.get("ratios")
    if ratios:
        lines.append("")
        lines.append("Speed ratios A / B, round by round (B's time per token or per layer / A's; > 1: A is faster),")
        lines.append("median (min-max over the rounds):")
        width = max(len(name) for name in ratios) + 2
        for name, metrics in ratios.items():
            for metric, r in metrics.items():
                lines.append(f"  {name:<{width}}{metric:<11}{format_ratio(r, len(r.get('per_round', [])))}")
    p = result.get("perplexity")
    if p and "error" not in p:
        lines.append("")
        lines.append("Perplexity of the embedded model's exports (fixed English paragraph):")
        for name, v in p.items():
            size = f"{v['weight_mb']:.0f} MB" if "weight_mb" in v else ""
            lines.append(f"  {name:<14}{v['ppl']:>9.3f}  x{v['vs_pytorch']:.3f}  {size}")
    elif p:
        lines.append(f"\nPerplexity: not measured: {p['error']}")
    if meta.get("elapsed_s"):
        lines.append(f"\n(bench took {meta['elapsed_s']:.0f} s)")
    return "\n".join(lines)


def publish(result, text, json_path=None) -> dict:
    """Print a run's report and, if asked, write its result as JSON: the last step of every bench run."""
    import json
    from pathlib import Path

    print(text, flush=True)
    if json_path:
        Path(json_path).expanduser().write_text(json.dumps(result, indent=2, default=str))
        print(f"[bench] wrote {json_path}", flush=True)
    return result
