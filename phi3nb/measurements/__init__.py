"""The bench runs every figure a reader sees comes from (README, docs, the notebook, the plot, phi3nb's messages).

Each JSON is `phi3nb bench` output as it was written, naming its CPU (meta.cpu) and day: re-running the bench
and re-rendering (docs/figures.py) is the only way to change a figure. The product reads them as package data.
"""

import json
from pathlib import Path

FOLDER = Path(__file__).resolve().parent
# `phi3nb bench --full-size` runs: Phi-3-mini-4k-instruct's shapes with random weights, one per CPU class.
FULL_SIZE_RUNS = ("full-size-xeon-amx.json", "full-size-epyc-avx2.json", "full-size-epyc-zen4.json")


def read(name) -> dict:
    """One run, as the bench wrote it."""
    return json.loads((FOLDER / name).read_text(encoding="utf-8"))
