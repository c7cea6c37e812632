"""The bench runs every figure a reader sees comes from (README, docs, the notebook, the plot, phi3nb's messages),
and the one published table phi3nb quotes (answer quality, which random weights cannot show).

Each JSON is `phi3nb bench` output as it was written, naming its CPU (meta.cpu) and day: re-running the bench
and re-rendering (docs/figures.py) is the only way to change a figure. The product reads them as package data.
"""

import json
import re
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
# `phi3nb bench --full-size` runs: Phi-3-mini-4k-instruct's shapes with random weights, one per CPU class.
FULL_SIZE_RUNS = ("full-size-xeon-amx.json", "full-size-epyc-avx2.json", "full-size-epyc-zen4.json")
# load_genai's CPU default alternated with the alternatives at full size, per CPU class and export (`phi3nb bench
# --cpu-configs`, or fresh processes before it): what the load line quotes (run/cpu_config.py, why_default).
CPU_CONFIG_RUNS = ("cpu-configs-epyc-zen4.json", "cpu-configs-fast-epyc-zen4.json",
                   "cpu-configs-per-channel-epyc-zen4.json")
# Not measured here: the answer quality of int4 exports of Phi-3-mini as NNCF publishes it (its "meta" says where).
PUBLISHED_QUALITY = "published-quality-phi3-mini.json"


def read(name) -> dict:
    """One run, as the bench wrote it."""
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))


def decode_speed(run, engine) -> float | None:
    """The median decode speed (tokens/s) of one engine of a full-size run, None if it did not run there."""
    found = run.get("engines", {}).get(engine) or {}
    summary = found.get("decode_tok_s") if "error" not in found else None
    return summary.get("median", summary.get("mean")) if isinstance(summary, dict) else None


def date(meta) -> str:
    """The day of a run: `meta.date`, or the day written in `meta.machine` (this-machine.json has only that)."""
    if meta.get("date"):
        return meta["date"][:10]
    found = re.search(r"\d{4}-\d\d-\d\d", meta.get("machine", ""))
    return found.group(0) if found else "date not recorded"


def cpu_name(cpu) -> str:
    model = re.sub(r"\(R\)|\(TM\)| Processor| CPU", "", (cpu or {}).get("model") or "unknown CPU").strip()
    return re.sub(r"\s+", " ", model)


def cpu_class(cpu) -> str:
    """What decides OpenVINO's int4 path on a CPU, in words."""
    flags = set((cpu or {}).get("flags") or ())
    if "amx_tile" in flags:
        return "AVX-512 VNNI/BF16 + AMX"
    if "avx512_vnni" in flags:
        return "AVX-512 VNNI/BF16, no AMX" if "avx512_bf16" in flags else "AVX-512 VNNI"
    if "avx_vnni" in flags:
        return "AVX-VNNI"
    return "AVX2 only, no VNNI" if "avx2" in flags else "no AVX2"


def machine(meta, cores=True) -> str:
    """"2-core Intel Xeon (AVX-512 VNNI/BF16 + AMX), 2026-12-02": the CPU and the day, for any figure."""
    cpus = (meta.get("cpu") or {}).get("logical_cpus") if cores else None
    return f"{f'{cpus}-core ' if cpus else ''}{cpu_name(meta.get('cpu'))} ({cpu_class(meta.get('cpu'))}), {date(meta)}"
