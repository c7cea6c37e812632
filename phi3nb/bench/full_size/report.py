"""`phi3nb bench --full-size`'s results as plain-text tables, the CPU named at the end of every line with a figure,
so any line quoted alone still says where it was measured."""

from phi3nb.run.cpu import format_cpu, quantizes_activations

from ..report import format_ratio


def _f(v, fmt):
    return "-" if v is None else fmt.format(v)


def _median(summary, fmt):
    return _f((summary or {}).get("median"), fmt)


def _step_rows(result, on):
    rows = [("stand-in, written", result.get("standin"), "size_mb")]
    rows += [(f"export, {name} flags", rec, "final_mb") for name, rec in result.get("exports", {}).items()]
    rows.append(("GGUF write + quantize", result.get("gguf"), "final_mb"))
    head = (f"  {'step':<26}{'wall s':>8}{'peak RSS MB':>13}{'file-backed':>13}{'anon':>8}{'USS':>8}"
            f"{'peak disk MB':>14}{'final MB':>10}")
    lines = ["One-off steps (a fresh process each, watched; cached and reused afterwards):", head]
    for what, rec, size in rows:
        if not rec:
            continue
        if "error" in rec:
            lines.append(f"  {what:<26}not measured: {rec['error'][:150]}")
            continue
        if "wall_s" not in rec:
            lines.append(f"  {what:<26}{rec.get('note', 'not measured here')}")
            continue
        mem, disk = rec.get("memory") or {}, rec.get("disk") or {}
        when = f"  [{rec.get('cpu') or on}, {rec.get('measured_on', '?')}{', reused' if rec.get('reused') else ''}]"
        lines.append(f"  {what:<26}{rec['wall_s']:>8.0f}{_f(mem.get('rss_mb'), '{:.0f}'):>13}"
                     f"{_f(mem.get('rss_file_mb'), '{:.0f}'):>13}{_f(mem.get('rss_anon_mb'), '{:.0f}'):>8}"
                     f"{_f(mem.get('uss_peak_mb'), '{:.0f}'):>8}{_f(disk.get('peak_added_mb'), '{:.0f}'):>14}"
                     f"{_f(rec.get(size), '{:.0f}'):>10}{when}")
    return lines


def _engine_rows(engines):
    """[(label, {engine: cell})] of the figures the rows share, in reading order."""
    ok = {name: e for name, e in engines.items() if "error" not in e}
    rows = [("load s (page cache warm)", {n: _median(e.get("load_s"), "{:.2f}") for n, e in ok.items()}),
            ("first reply TTFT ms, fresh pipeline, 32 tokens", {n: _median(e.get("first_ttft_ms"), "{:.0f}")
                                                                 for n, e in ok.items()}),
            ("later message TTFT ms, 32 tokens", {n: _median(e.get("later_ttft_ms"), "{:.0f}") for n, e in ok.items()}),
            ("decode ms per token", {n: _median(e.get("tpot_ms"), "{:.1f}") for n, e in ok.items()}),
            ("decode tokens/s", {n: _median(e.get("decode_tok_s"), "{:.2f}") for n, e in ok.items()})]
    lengths = sorted({k for e in ok.values() for k in e.get("prefill_ttft_ms", {})}, key=int)
    for n in lengths:
        rows.append((f"TTFT ms, fresh {n}-token prompt", {name: _median(e.get("prefill_ttft_ms", {}).get(n), "{:.0f}")
                                                         for name, e in ok.items()}))
    turns = max((len(e.get("chat_ttft_by_turn_ms", [])) for e in ok.values()), default=0)
    for t in range(turns):
        rows.append((f"chat turn {t + 1} TTFT ms", {n: _median((e.get("chat_ttft_by_turn_ms") or [None] * turns)[t],
                                                               "{:.0f}") for n, e in ok.items()}))
    for phase, label in (("chat", "peak RSS MB during the 5-turn chat"), ("decode", "peak RSS MB while decoding")):
        rows.append((label, {n: _f((e.get("memory", {}).get(phase) or {}).get("rss_mb"), "{:.0f}") for n, e in ok.items()}))
        rows.append(("  of it file-backed / anon MB", {n: _split(e.get("memory", {}).get(phase)) for n, e in ok.items()}))
    source = next((e.get("peak_source") for e in ok.values()), None)  # none: a JSON from before psutil
    how = {None: "VmHWM", "sampled": "largest sample", "peak_wset": "peak working set"}.get(source, source)
    rows.append((f"peak RSS MB, whole run ({how})", {n: _f(e.get("hwm_mb"), "{:.0f}") for n, e in ok.items()}))
    return [(label, cells) for label, cells in rows if any(v not in ("-", "- / -") for v in cells.values())]


def _split(peaks):
    peaks = peaks or {}
    return f"{_f(peaks.get('rss_file_mb'), '{:.0f}')} / {_f(peaks.get('rss_anon_mb'), '{:.0f}')}"


def format_full_size(result: dict) -> str:
    meta = result.get("meta", {})
    cpu = meta.get("cpu") or {}
    on = cpu.get("model") or "CPU not recorded"
    model = meta.get("model", {})
    what = ("random stand-in with microsoft/Phi-3-mini-4k-instruct's config" if model.get("stand_in")
            else model.get("source", "?"))
    lines = [f"phi3nb bench --full-size: {what}, {model.get('layers', '?')} layers, "
             f"{model.get('parameters') or 0:,} parameters; {meta.get('rounds', '?')} rounds, every run a fresh "
             f"process, order rotated; {meta.get('new_tokens', '?')} tokens decoded per run",
             format_cpu(cpu) + " (all its flags: meta.cpu.lscpu_flags in the JSON)"]
    if quantizes_activations(cpu) is False:
        lines.append("No VNNI on this CPU: OpenVINO multiplies int4 and int8 weights in f32 here, llama.cpp in int8.")
    lines += [""] + _step_rows(result, on) + [""]

    engines = result.get("engines", {})
    ok = [n for n, e in engines.items() if "error" not in e]
    width = max([14] + [len(n) + 2 for n in ok])
    lines.append(f"Median over the rounds (spreads in the JSON), {meta.get('long_prefill', '')}:")
    lines.append(f"  {'':<48}" + "".join(f"{n:>{width}}" for n in ok))
    for label, cells in _engine_rows(engines):
        lines.append(f"  {label:<48}" + "".join(f"{cells.get(n, '-'):>{width}}" for n in ok) + f"  [{on}]")
    for name, e in engines.items():
        if "error" in e:
            lines.append(f"  {name}: not measured: {e['error'][:200]}")

    loads = result.get("load", {})
    if loads:
        lines += ["", "Loads of the chat's export (load_genai, the chat's CPU config) and of the GGUF, a fresh process each:",
                  f"  {'':<28}{'load s':>9}{'first reply TTFT ms':>21}{'peak RSS MB, load':>19}{'file-backed / anon':>20}"]
        for name, e in loads.items():
            if "error" in e:
                lines.append(f"  {name:<28}not measured: {e['error'][:200]}")
                continue
            peaks = e.get("memory", {}).get("load") or {}
            lines.append(f"  {name:<28}{_median(e.get('load_s'), '{:.2f}'):>9}{_median(e.get('first_ttft_ms'), '{:.0f}'):>21}"
                         f"{_f(peaks.get('rss_mb'), '{:.0f}'):>19}{_split(peaks):>20}  [{on}]")

    ratios = result.get("ratios", {})
    if ratios:
        lines += ["", "Speed ratios A / B, round by round (B's time / A's; > 1: A is faster), median (min-max):"]
        width = max(len(name) for name in ratios) + 2
        for name, figures in ratios.items():
            for figure, r in figures.items():
                lines.append(f"  {name:<{width}}{figure:<24}{format_ratio(r, len(r.get('per_round', [])))}  [{on}]")
    if meta.get("elapsed_s"):
        lines.append(f"\n(the full-size bench took {meta['elapsed_s']:.0f} s on {on})")
    return "\n".join(lines)
