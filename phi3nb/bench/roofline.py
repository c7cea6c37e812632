"""The memory roofline of decoding: every token reads every weight once, so tok/s <= bandwidth / bytes."""

import os
from pathlib import Path
import threading
import time


def read_bandwidth_gb_s(size_mb=1024, repeats=5, threads=None) -> float:
    """Best-of-`repeats` read bandwidth summing a `size_mb` float64 array, split over `threads` threads.

    numpy's reductions release the GIL, so threads read in parallel as a multi-threaded
    decoder does; the array is far larger than L2 so it streams from memory (or L3 where that is huge).
    """
    import numpy as np

    threads = threads or os.cpu_count() or 1
    data = np.ones(size_mb * (1 << 20) // 8)
    parts = np.array_split(data, threads)
    best = float("inf")
    for _ in range(repeats):
        workers = [threading.Thread(target=np.sum, args=(p,)) for p in parts]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - start)
    return data.nbytes / best / 1e9


def roofline(bandwidth_gb_s, weight_bytes_per_token) -> dict:
    return {"bandwidth_gb_s": bandwidth_gb_s, "weight_bytes_per_token": int(weight_bytes_per_token),
            "limit_tok_s": bandwidth_gb_s * 1e9 / weight_bytes_per_token}


def weight_bytes(model_dir) -> int:
    """Bytes of weights the model reads per token: the size of its .bin (or .gguf)."""
    p = Path(model_dir)
    return (p / "openvino_model.bin").stat().st_size if p.is_dir() else p.stat().st_size
