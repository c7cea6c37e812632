"""Every measured figure a reader sees, rendered from the committed bench JSONs (phi3nb/measurements/).

    .venv/bin/python docs/figures.py          # re-render every block in place
    .venv/bin/python docs/figures.py --check  # exit 1, naming them, if a committed block differs

A figure lives between `<!-- figures:NAME -->` and `<!-- /figures:NAME -->` in README.md, docs/*.md,
phi3nb/bench/README.md or a markdown cell of the notebook, and its text is `BLOCKS[NAME]()`. tests/test_figures.py
fails when a committed block differs from a fresh render, and when a figure stands outside a block, so re-running
the bench and re-rendering is the only way to change one. Every block names the machine and the date of what it shows.

It reads the JSONs itself instead of importing the bench's report code: the docs never import phi3nb.bench
(tests/test_product_line.py).
"""

import json
import re
import sys
from pathlib import Path

from phi3nb.measurements import (CPU_CONFIG_RUNS, FULL_SIZE_RUNS as FULL_SIZE, PUBLISHED_QUALITY, cpu_class, cpu_name,
                                 date, machine, read)

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
NOTEBOOK = ROOT / "notebooks" / "phi3_openvino_chat.ipynb"
EMBEDDED = "embedded-epyc-zen4.json"  # this-machine.json, the Xeon run of 2026-11-27, is only named (bench README)
# Where each file came from, for the reader (the JSON itself holds the CPU, its flags and the date).
PROVENANCE = {
    "full-size-xeon-amx.json": "`phi3nb bench --full-size --presets cookbook,fast,g64,per-channel,int8` on this "
                               "project's machine",
    "full-size-epyc-avx2.json": "`phi3nb bench --full-size --presets cookbook,fast,per-channel`, the exports and "
                                "the GGUF made and measured by the bench just before and reused",
    "full-size-epyc-zen4.json": "`phi3nb bench --full-size --presets cookbook,fast,per-channel --prefill 128,1000` "
                                "on this project's machine, alone on it, with the exports and the GGUF the bench "
                                "made there earlier that day reused",
}
OPEN, CLOSE = "<!-- figures:{} -->", "<!-- /figures:{} -->"
BLOCK = re.compile(r"<!-- figures:([\w-]+) -->\n(.*?)<!-- /figures:\1 -->", re.S)
GB, MB = 1000.0, 1.0  # the JSONs hold MB (1e6 bytes); GB here are 1e9 bytes, as the bench reports them

ENGINES = {  # bench key -> what a reader calls it
    "optimum-cookbook": "the cookbook's path (`OVModelForCausalLM`, cookbook export)",
    "genai-chat": "the chat (`load_genai`, cookbook export)",
    "genai-fast": "`load_genai`, fast preset",
    "genai-g64": "`load_genai`, int4 groups of 64",
    "genai-per-channel": "`load_genai`, int4 per channel",
    "genai-int8": "`load_genai`, int8",
    "llama.cpp-Q4_K_M": "llama.cpp Q4_K_M",
}
EXPORTS = {"cookbook": "the cookbook's flags", "fast": "fast preset", "g64": "int4 groups of 64",
           "per-channel": "int4 per channel", "int8": "int8"}
LLAMA = "llama.cpp-Q4_K_M"


def llama_build(meta) -> str:
    info = (meta.get("llama_cpp_build") or {}).get("system_info", "")
    return "AVX-512 build" if "AVX512 = 1" in info else "AVX2 build" if "AVX2 = 1" in info else "build not recorded"


def median(summary):
    return (summary or {}).get("median") if isinstance(summary, dict) else None


def fmt(value, pattern="{:.1f}", scale=1.0) -> str:
    return "-" if value is None else pattern.format(value / scale)


def runs():
    return [(name, read(name)) for name in FULL_SIZE]


def engine(run, key):
    found = run.get("engines", {}).get(key)
    return found if found and "error" not in found else None


def ratio(run, a, b=LLAMA, figure="tpot_ms"):
    return median(run.get("ratios", {}).get(f"{a} / {b}", {}).get(figure))


def longest_prompt(eng):
    """(tokens, median first-token ms) of the longest fresh prompt an engine was timed on, or (None, None)."""
    lengths = sorted((int(k) for k in (eng or {}).get("prefill_ttft_ms", {})), reverse=True)
    return (lengths[0], median(eng["prefill_ttft_ms"][str(lengths[0])])) if lengths else (None, None)


def rss(eng, phase, part="rss_mb"):
    return ((eng or {}).get("memory", {}).get(phase) or {}).get(part)


def largest(values):
    values = [v for v in values if v is not None]
    return max(values) if values else None


def table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def sources(named) -> str:
    """One line per JSON: file, CPU with the flags that matter and every lscpu flag count, date, how it was made."""
    lines = []
    for name, run in named:
        meta = run["meta"]
        cpu = meta.get("cpu") or {}
        flags = " ".join(cpu.get("flags") or []) or "none of avx2, avx512, amx"
        how = PROVENANCE.get(name, "`phi3nb bench`")
        lines.append(f"- `{name}`: {cpu_name(cpu)}, {cpu.get('logical_cpus', '?')} logical CPUs, of the flags that "
                     f"matter {flags} (every lscpu flag: `meta.cpu.lscpu_flags`), {date(meta)}; {how}; llama.cpp's "
                     f"{llama_build(meta)}.")
    return "\n".join(lines)


# ---- the blocks ---------------------------------------------------------------------------------------------

def full_size() -> str:
    """The three full-size CPUs side by side (docs/how-fast.md)."""
    named = runs()
    header = ["Phi-3-mini at full size (random weights, `phi3nb bench --full-size`), medians"] + [
        f"{cpu_name(r['meta']['cpu'])}, {cpu_class(r['meta']['cpu'])}, {date(r['meta'])}" for _, r in named]
    rows = []

    def row(label, cell):
        cells = [cell(r) for _, r in named]
        if any(c != "-" for c in cells):
            rows.append([label] + cells)

    for key, what in ENGINES.items():
        def decode(r, key=key):
            e = engine(r, key)
            if not e:
                return "-"
            times = "" if key == LLAMA else f" ({fmt(ratio(r, key), '{:.2f}')}x)"
            return fmt(median(e.get("decode_tok_s"))) + times
        row(f"decode tokens/s{'' if key == LLAMA else ' (x llama.cpp)'}: {what}", decode)
    for key in ("optimum-cookbook", "genai-chat", "genai-fast", "genai-per-channel", LLAMA):
        row(f"first token of a fresh load's first reply, 32-token prompt, s: {ENGINES[key]}",
            lambda r, key=key: fmt(median((engine(r, key) or {}).get("first_ttft_ms")), "{:.2f}", 1000))
    for key in ("optimum-cookbook", "genai-chat", LLAMA):
        row(f"first token of a later message, 32 tokens, s: {ENGINES[key]}",
            lambda r, key=key: fmt(median((engine(r, key) or {}).get("later_ttft_ms")), "{:.2f}", 1000))
    def load(r, key):
        e = engine(r, key) or {}
        wall, cpu = median(e.get("load_s")), median(e.get("load_cpu_s"))
        return fmt(wall) + (f" ({cpu / wall:.1f} cores)" if wall and cpu else "")

    for key in ("optimum-cookbook", "genai-chat", LLAMA):
        row(f"load, page cache warm, s (cores kept busy, where measured): {ENGINES[key]}"
            + (" (with the warm-up)" if key == "genai-chat" else ""), lambda r, key=key: load(r, key))
    for tokens in ("1000", "3000"):
        for key in ("genai-chat", "genai-fast", "genai-per-channel", LLAMA):
            row(f"first token of a fresh {int(tokens):,}-token prompt, s: {ENGINES[key]}",
                lambda r, key=key, tokens=tokens: fmt(
                    median(((engine(r, key) or {}).get("prefill_ttft_ms") or {}).get(tokens)), "{:.0f}", 1000))
    for key in ("genai-chat", LLAMA):
        def turns(r, key=key):
            by_turn = (engine(r, key) or {}).get("chat_ttft_by_turn_ms") or []
            return ", ".join(fmt(median(t), "{:.1f}", 1000) for t in by_turn) or "-"
        row(f"5-turn chat, first token of turns 1-5, s: {ENGINES[key]}", turns)
    for key in ("optimum-cookbook", "genai-chat", "genai-fast", "genai-per-channel", LLAMA):
        row(f"RSS while decoding, GB: {ENGINES[key]}", lambda r, key=key: fmt(rss(engine(r, key), "decode"), "{:.1f}", GB))
    row("RSS at the longest fresh prompt, GB: the chat",
        lambda r: (lambda n, _: "-" if n is None else
                   f"{fmt(rss(engine(r, 'genai-chat'), 'prefill'), '{:.1f}', GB)} ({n:,} tokens)")(
            *longest_prompt(engine(r, "genai-chat"))))
    for key, what in EXPORTS.items():
        def export(r, key=key):
            rec = r.get("exports", {}).get(key)
            if not rec:
                return "-"
            if "wall_s" not in rec:
                return "not measured (made by an earlier run)"
            mem, disk = rec.get("memory") or {}, rec.get("disk") or {}
            return (f"{rec['wall_s']:.0f} s; {fmt(mem.get('rss_mb'), '{:.1f}', GB)} GB "
                    f"({fmt(mem.get('rss_anon_mb'), '{:.1f}', GB)} not file-backed); disk "
                    f"+{fmt(disk.get('peak_added_mb'), '{:.1f}', GB)} GB at the peak; {rec.get('final_mb', 0):,.0f} MB")
        row(f"export with {what}: time; peak RSS; disk; size", export)
    row("llama.cpp", lambda r: llama_build(r["meta"]))
    row("the whole bench, min", lambda r: fmt(r["meta"].get("elapsed_s"), "{:.0f}", 60))
    return (table(header, rows) + "\n\nx llama.cpp: the median of each round's llama.cpp time per token / this "
            "row's, from the same round (> 1: faster than llama.cpp). The runs:\n\n" + sources(named) + "\n")


def laptop() -> str:
    """The README's one small table: which Phi-3-mini export for which laptop."""
    named = runs()
    rows = []
    for key, flags, how in (("genai-fast", "fast", "`--preset fast`"),
                            ("genai-per-channel", "per-channel", "`... --preset fast --group-size -1`"),
                            ("genai-chat", "cookbook", "the notebook's default")):
        engines = [engine(r, key) for _, r in named]
        decode = [rss(e, "decode") for e in engines]
        peaks = [(rss(e, "prefill"), longest_prompt(e)[0]) for e in engines if rss(e, "prefill")]
        peak, tokens = max(peaks) if peaks else (None, None)
        disk = largest(r.get("exports", {}).get(flags, {}).get("final_mb") for _, r in named)
        speeds = [median((e or {}).get("decode_tok_s")) for e in engines]
        speeds = [s for s in speeds if s is not None]
        fits = lambda laptop_gb: "-" if peak is None else "yes" if peak <= (laptop_gb - 2) * GB else "tight"  # noqa: E731
        rows.append([f"Phi-3-mini, {EXPORTS[flags]}: {how}", f"{fmt(largest(decode), '{:.1f}', GB)} GB",
                     f"{fmt(peak, '{:.1f}', GB)} GB ({tokens:,}-token prompt)", f"{fmt(disk, '{:,.0f}')} MB",
                     f"{min(speeds):.1f}-{max(speeds):.1f}", fits(8), fits(16)])
    rows.append(["Phi-3.5-mini, Phi-4-mini (3.8 B parameters each, like Phi-3-mini): pre-converted folder",
                 "not measured", "not measured", "not measured", "not measured", "try one first", "try one first"])
    header = ["model, export", "RSS while answering", "RSS peak", "disk", "decode tokens/s", "8 GB laptop",
              "16 GB laptop"]
    export_peak = largest(r.get("exports", {}).get("cookbook", {}).get("memory", {}).get("rss_mb") for _, r in named)
    export_disk = largest(r.get("exports", {}).get("cookbook", {}).get("disk", {}).get("peak_added_mb") for _, r in named)
    download = largest((r.get("standin") or {}).get("size_mb") for _, r in named)
    machines = "; ".join(machine(r["meta"], cores=False) for _, r in named)
    return (table(header, rows) + "\n\n"
            f"Measured with `phi3nb bench --full-size` (random weights in Phi-3-mini's exact shapes) on three 2-core "
            f"CPUs: {machines}. Memory and disk: the largest of the three runs (they differ by a few percent); "
            f"speed: the slowest and the fastest CPU. \"yes\": the peak leaves 2 GB of the laptop's memory for the system and a browser. "
            f"Exporting Phi-3-mini yourself takes {fmt(export_peak, '{:.0f}', GB)} GB of memory at its peak and "
            f"{fmt(download, '{:.1f}', GB)} GB of download plus {fmt(export_disk, '{:.1f}', GB)} GB of disk while "
            f"it converts: the pre-converted folder needs neither.\n")


def memory() -> str:
    """Where a Phi-3-mini chat's memory goes, per CPU (docs/memory.md)."""
    named = runs()
    header = ["Phi-3-mini, `phi3nb bench --full-size`, GB"] + [machine(r["meta"]) for _, r in named]
    rows = []

    def row(label, cell):
        cells = [cell(r) for _, r in named]
        if any(c != "-" for c in cells):
            rows.append([label] + cells)

    chat = lambda r: engine(r, "genai-chat")  # noqa: E731
    row("the chat (cookbook export), RSS while decoding", lambda r: fmt(rss(chat(r), "decode"), "{:.2f}", GB))
    row("  of it the model file, mapped from disk (file-backed)", lambda r: fmt(rss(chat(r), "decode", "rss_file_mb"), "{:.2f}", GB))
    row("  the rest, which cannot be dropped", lambda r: fmt(rss(chat(r), "decode", "rss_anon_mb"), "{:.2f}", GB))
    row("the chat over a 5-turn conversation", lambda r: fmt(rss(chat(r), "chat"), "{:.2f}", GB))
    row("the chat at its longest fresh prompt", lambda r: (lambda n, _: "-" if n is None else
        f"{fmt(rss(chat(r), 'prefill'), '{:.2f}', GB)} ({n:,} tokens)")(*longest_prompt(chat(r))))
    row("the cookbook's path after its first reply, not file-backed",
        lambda r: fmt(rss(engine(r, "optimum-cookbook"), "first_reply", "rss_anon_mb"), "{:.2f}", GB))
    row("fast preset, RSS while decoding", lambda r: fmt(rss(engine(r, "genai-fast"), "decode"), "{:.2f}", GB))
    row("export with the cookbook's flags, peak RSS",
        lambda r: fmt(r["exports"]["cookbook"].get("memory", {}).get("rss_mb"), "{:.2f}", GB))
    row("  of it not file-backed",
        lambda r: fmt(r["exports"]["cookbook"].get("memory", {}).get("rss_anon_mb"), "{:.2f}", GB))
    row("  disk added at its peak (the temporary full-precision model included)",
        lambda r: fmt(r["exports"]["cookbook"].get("disk", {}).get("peak_added_mb"), "{:.2f}", GB))
    row("  the exported folder", lambda r: fmt(r["exports"]["cookbook"].get("final_mb"), "{:.2f}", GB))
    row("the bf16 source weights (what a download of the real model is)",
        lambda r: fmt((r.get("standin") or {}).get("size_mb"), "{:.2f}", GB))
    return table(header, rows) + "\n\n" + sources(named) + "\n"


def fit_check() -> str:
    """What the fit check compares free memory and disk with: phi3nb.export.fit's figures, read from the JSONs."""
    from phi3nb.export import fit

    return (f"The fit check's figures for Phi-3-mini (`phi3nb/export/fit.py` reads them from the full-size JSONs "
            f"when it is imported; {fit.SOURCE}): an export peaks at {fit.PHI3_MINI_EXPORT_PEAK_GB:.2f} GB of RSS, "
            f"{fit.PHI3_MINI_EXPORT_ANON_GB:.2f} GB of it not file-backed, and writes "
            f"{fit.PHI3_MINI_EXPORT_TEMP_MB / 1000:.2f} GB of temporary files beside a "
            f"{fit.PHI3_MINI_EXPORT_OUTPUT_MB:,.0f} MB export ({fit.PHI3_MINI_FAST_OUTPUT_MB:,.0f} MB with the fast "
            f"preset); the chat peaks at {fit.PHI3_MINI_CHAT_RSS_GB:.2f} GB of RSS.\n")


def load_cache() -> str:
    """Loads with and without a compiled-model cache on the CPU (docs/backends.md)."""
    named = runs()
    header = ["`load_genai` on the cookbook's export, median load s (first token s)"] + [machine(r["meta"]) for _, r in named]
    rows = []
    for key, label in (("genai cold", "page cache cold"), ("genai warm", "page cache warm"),
                       ("genai CACHE_DIR, first", "CACHE_DIR set, first load (writes the cache)"),
                       ("genai CACHE_DIR, reused", "CACHE_DIR set, the cache reused")):
        cells = []
        for _, r in named:
            e = r.get("load", {}).get(key)
            cells.append("-" if not e or "error" in e else
                         f"{fmt(median(e.get('load_s')))} ({fmt(median(e.get('first_ttft_ms')), '{:.2f}', 1000)})")
        rows.append([label] + cells)
    return table(header, rows) + "\n"


def first_token() -> str:
    """The notebook's step 9: the cookbook path's first generate against a later one, on each CPU."""
    lines = []
    for _, r in runs():
        e = engine(r, "optimum-cookbook")
        lines.append(f"- {machine(r['meta'])}: first token after {fmt(median(e['first_ttft_ms']), '{:.1f}', 1000)} s, "
                     f"a later prompt of the same length {fmt(median(e['later_ttft_ms']), '{:.1f}', 1000)} s")
    return ("For Phi-3-mini (`phi3nb bench --full-size`, random weights in its shapes, a 32-token prompt):\n\n"
            + "\n".join(lines) + "\n")


def cookbook_copy() -> str:
    """The notebook's step 11: what freeing the cookbook's model gives back."""
    parts = [f"{fmt(rss(engine(r, 'optimum-cookbook'), 'decode', 'rss_anon_mb'), '{:.1f}', GB)} GB on "
             f"{machine(r['meta'])}" for _, r in runs()]
    return ("For Phi-3-mini the cookbook's model holds, besides its mapped model file, " + "; ".join(parts)
            + " (`phi3nb bench --full-size`).\n")


def embedded_bench() -> str:
    """`phi3nb bench` on the embedded model (EMBEDDED), with its machine and date."""
    data = read(EMBEDDED)
    meta = data["meta"]
    header = ["embedded SmolLM2-135M", "decode tokens/s", "first token ms", "fresh 1,000 / 3,000 tokens, first token ms",
              "peak RSS MB"]
    rows = []
    for key, b in data["backends"].items():
        if not b.get("decode_tok_s"):
            continue
        prefill = b.get("prefill_ttft_ms") or {}
        rows.append([key, fmt(b["decode_tok_s"]), fmt(b.get("ttft_ms"), "{:.0f}"),
                     f"{fmt(prefill.get('1000'), '{:.0f}')} / {fmt(prefill.get('3000'), '{:.0f}')}",
                     fmt(b.get("peak_rss_mb"), "{:.0f}")])
    slice_rows = [[k, fmt(v.get("ms_per_layer"), "{:.2f}"), fmt(v.get("extrapolated_tok_s"))]
                  for k, v in data.get("phi3_slice", {}).items() if v.get("ms_per_layer")]
    ppl = data.get("perplexity", {})
    quality = ", ".join(f"{k} x{v['vs_pytorch']:.3f}" for k, v in ppl.items() if k != "pytorch" and v.get("vs_pytorch"))
    return (f"`{EMBEDDED}`: `phi3nb bench` on {machine(meta)}, {meta.get('rounds', '?')} rounds, alone on the "
            "machine.\n\n" + table(header, rows) + "\n\n"
            + table(["Phi-3-mini-shaped layers (random weights), same run", "ms per layer", "tokens/s at 32 layers, extrapolated from 2 and 4"],
                    slice_rows) + "\n\n"
            f"Perplexity on a fixed paragraph against PyTorch's ({ppl.get('pytorch', {}).get('ppl', 0):.2f}), same run: "
            f"{quality} (a 135M model is a harsh test of int4; Phi-3-mini's cost is not measured).\n")


def cpu_configs() -> str:
    """load_genai's CPU default against the alternatives, alternated at full size (CPU_CONFIG_RUNS: what the load
    line quotes); phi3nb/bench/README.md, "With VNNI: the activation group"."""
    named = [(name, read(name)) for name in CPU_CONFIG_RUNS]
    header = ["Phi-3-mini at full size (random weights), median ms per token (runs)"] + [
        f"{r['meta']['export_short']}: {machine(r['meta'])}" for _, r in named]
    groups = ", ".join(f"{r['meta']['ov_config'][r['meta']['default']].get('DYNAMIC_QUANTIZATION_GROUP_SIZE')} for "
                       f"{r['meta']['export_short'].split(', ', 1)[-1]}" for _, r in named)
    described = {"default": f"load_genai's CPU default for that export on that CPU: the f32 hint, activation group "
                            f"{groups}"}
    for _, r in named:
        for key, what in r["meta"]["configs"].items():
            described.setdefault(key, what)
    reference = {name: r["meta"]["reference"] for name, r in named if r["meta"].get("reference")}
    rows = [[what] + [f"{fmt(r['median_tpot_ms'][key])} ({len(r['runs'][key])})" if key in r["median_tpot_ms"] else "-"
                      for _, r in named] for key, what in described.items()]
    engines = sorted({engine for ref in reference.values() for engine in ref})
    rows += [[f"{engine}, the same weights, in the same rounds"] + [
        f"{fmt(reference[name][engine]['median_tpot_ms'])} ({len(reference[name][engine]['runs'])})"
        if engine in reference.get(name, {}) else "-" for name, _ in named] for engine in engines]
    lines = [f"- `{name}`: {r['meta']['command'].rstrip('.')}."
             + (f" Noise: {r['meta']['noise']}." if r["meta"].get("noise") else "") for name, r in named]
    return table(header, rows) + "\n\n" + "\n".join(lines) + "\n"


LONG_CONTEXT = "long-context-epyc-zen4.json"
# microsoft/Phi-4-mini-instruct's config.json: what sizes its KV cache (grouped: 8 key-value heads of 128)
PHI4_MINI_KV = {"num_hidden_layers": 32, "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128,
                "hidden_size": 3072}


def export_quality() -> str:
    """What the exports cost in answer quality, as NNCF publishes it for Phi-3-mini (docs/how-fast.md): random
    weights cannot show it, so this one block is published, not measured, and says so."""
    published = read(PUBLISHED_QUALITY)
    meta, lambada = published["meta"], published["lambada_openai"]["rows"]
    errors = {k: v["average_relative_error"] for k, v in published["trade_off"]["rows"].items()}
    acc = lambda key: f"{lambada[key]['accuracy']:.1%}"  # noqa: E731
    ppl = lambda key: f"{lambada[key]['perplexity']:.2f}"  # noqa: E731
    rows = [["unquantized", "fp32", acc("fp32"), ppl("fp32")],
            ["`--preset fast`: every layer int4 (sym, group 128), no data", "int4_sym_r100_gs128",
             acc("int4_sym_r100_gs128"), ppl("int4_sym_r100_gs128")],
            ["`--preset fast-se`: the same, with scale estimation (on phi3nb's own calibration text)",
             "int4_sym_r100_gs128_scale",
             acc("int4_sym_r100_gs128_scale"), ppl("int4_sym_r100_gs128_scale")],
            ["the cookbook's flags: 60 % of the layers int4, the rest int8", "not published", "-", "-"],
            ["int4 per channel (`--group-size -1`)", "not published", "-", "-"]]
    header = ["Phi-3-mini-4k-instruct, export", "NNCF's row", "lambada_openai accuracy", "perplexity"]
    return (table(header, rows) + "\n\n"
            f"NNCF's other table for the same model (int4 asym, group 64, calibrated on wikitext-2; the average "
            f"relative error against fp32 over lambada_openai, wikitext and who_what_benchmark): int8 "
            f"{errors['int8']:.1%}; 60 % of the layers int4 with scale estimation "
            f"{errors['int4, 60 % of layers, scale estimation']:.1%}; every layer int4 with scale estimation "
            f"{errors['int4, all layers, scale estimation']:.1%} (optimum-intel's own int4 export of this model: "
            f"asym, group 64, ratio 1.0, scale estimation on wikitext2); every layer int4, no data "
            f"{errors['int4, all layers, no data']:.1%}. Published by the NNCF team in "
            f"[its weight compression guide]({meta['url']}), read {meta['read']}; not measured here (phi3nb's "
            f"full-size stand-ins have random weights). phi3nb only suggests another export, with these figures; "
            f"the cookbook's flags stay the notebook's default.\n")


def long_context() -> str:
    """What a chat past LongRoPE's switch costs, and what a laptop holds (README, the notebook's family table)."""
    from phi3nb.export.fit import kv_bytes_per_token

    run = read(LONG_CONTEXT)
    s, chat = run["summary"], run["chat"]
    memory, c = s["memory"], s["crossing"]
    header = ["one chat, Phi-3.5-mini's shape, the cookbook's export", *[f"past {int(k):,} tokens" for k in memory]]
    rows = [["the process's memory (RSS), at", *[f"{m['rss_mb'] / GB:.1f} GB ({m['held']:,} tokens)"
                                                for m in memory.values()]]]
    per_token = s["measured_bytes_per_token"]
    phi4 = kv_bytes_per_token(PHI4_MINI_KV, chat["kv_precision"]) / chat["kv_bytes_per_token"]
    first = next(iter(memory.values()))

    def holds(gb):
        n = s["laptop_holds_tokens"][str(gb)]
        return (f"holds about {round(n, -2):,} tokens of conversation" if n >= first["held"] else
                f"cannot hold even the first {first['held']:,} ({first['rss_mb'] / GB:.1f} GB of RSS there)")

    return (table(header, rows) + "\n\n"
            f"The turn that took the chat past 4,096 tokens read the conversation again with the long rotary "
            f"factors: {c['reread_tokens']:,} tokens in {c['reread_s']:.0f} s; that turn took {c['wall_s']:.0f} s, "
            f"the one before it {c['previous_wall_s']:.0f} s. Decode: {s['decode_before']['tok_s']:.1f} tokens/s at "
            f"{s['decode_before']['held']:,} tokens, {s['decode_after']['tok_s']:.1f} at {s['decode_after']['held']:,}, "
            f"{s['decode_last']['tok_s']:.1f} at {s['decode_last']['held']:,}. Each token of conversation added "
            f"{per_token / 1e3:.0f} KB ({chat['kv_bytes_per_token'] / 1e3:.0f} KB computed for its {chat['kv_precision']} "
            f"KV cache). Extrapolated from these (no chat ran longer here: past 16K tokens a turn already took "
            f"{max(t['wall_s'] for t in chat['turns']) / 60:.0f} minutes on 2 cores), with 2 GB kept for "
            f"the system and a browser: an 8 GB laptop "
            f"{holds(8)}, a 16 GB one {holds(16)}. Phi-4-mini's KV cache "
            f"grows by {phi4:.2f} of Phi-3.5-mini's per token (its config.json: 8 key-value heads of 128 against 32 of "
            f"96), so its chats hold more tokens; its weights are larger (a 200,064-token vocabulary). The chat's load "
            f"line says what your machine holds. Measured with `phi3nb bench --long-context` (random weights in Phi-3.5-mini's "
            f"shapes; {run['meta']['doc_tokens']:,}-token documents, {run['meta']['reply_tokens']}-token replies) on "
            f"{machine(run['meta'])}.\n")


BLOCKS = {"export-quality": export_quality, "long-context": long_context, "full-size": full_size, "laptop": laptop, "memory": memory, "fit-check": fit_check,
          "load-cache": load_cache, "first-token": first_token, "cookbook-copy": cookbook_copy,
          "embedded-bench": embedded_bench, "cpu-configs": cpu_configs}


# ---- filling the files ---------------------------------------------------------------------------------------

def fill(text: str, rendered: dict) -> str:
    """`text` with every block's body replaced by its fresh render; an unknown block name is an error."""
    def body(m):
        if m.group(1) not in BLOCKS:
            raise KeyError(f"unknown figures block {m.group(1)!r}; known: {sorted(BLOCKS)}")
        if m.group(1) not in rendered:
            rendered[m.group(1)] = BLOCKS[m.group(1)]()
        return f"{OPEN.format(m.group(1))}\n{rendered[m.group(1)]}{CLOSE.format(m.group(1))}"
    return BLOCK.sub(body, text)


def markdown_files() -> list:
    """The Markdown files a reader sees: the README, the docs pages, and the bench's README (how the bench works)."""
    return [ROOT / "README.md"] + sorted(DOCS.glob("*.md")) + [ROOT / "phi3nb" / "bench" / "README.md"]


def notebook_markdown(nb) -> list:
    return [c for c in nb["cells"] if c["cell_type"] == "markdown"]


def texts() -> dict:
    """{(path, cell index or None): text} of everything that may hold a block."""
    found = {(p, None): p.read_text(encoding="utf-8") for p in markdown_files()}
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "markdown":
            found[(NOTEBOOK, i)] = "".join(cell["source"])
    return found


def stale() -> list:
    """["README.md: laptop", ...]: the committed blocks that differ from a fresh render."""
    rendered, out = {}, []
    for (path, cell), text in texts().items():
        fresh = fill(text, rendered)
        committed = dict(BLOCK.findall(text))
        for name, body in BLOCK.findall(fresh):
            if committed.get(name) != body:
                out.append(f"{path.relative_to(ROOT)}{'' if cell is None else f' cell {cell}'}: {name}")
    return out


def write() -> list:
    """Re-render every block in place; returns the files changed."""
    rendered, changed = {}, []
    for path in markdown_files():
        text = path.read_text(encoding="utf-8")
        fresh = fill(text, rendered)
        if fresh != text:
            path.write_text(fresh, encoding="utf-8")
            changed.append(path)
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    touched = False
    for cell in notebook_markdown(nb):
        text = "".join(cell["source"])
        fresh = fill(text, rendered)
        if fresh != text:
            cell["source"] = fresh.splitlines(keepends=True)
            touched = True
    if touched:  # as nbformat writes it
        NOTEBOOK.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        changed.append(NOTEBOOK)
    return changed


def main(argv=None) -> int:
    sys.path.insert(0, str(ROOT))  # this tree's phi3nb (fit-check reads it)
    if "--check" in (argv or sys.argv[1:]):
        found = stale()
        for where in found:
            print(f"[figures] out of date: {where} (run: python docs/figures.py)")
        return 1 if found else 0
    for path in write():
        print(f"[figures] rendered {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
