"""phi3nb.bench.memwatch and stats.peak_rss_mb: one psutil reader on Windows, macOS and Linux (no /proc of phi3nb's
own), what each OS's figures become, and the peaks a sampler keeps, on child processes of known sizes."""

import ast
import math
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import psutil
import pytest
from deadline import wait_for

PACKAGE = Path(__file__).resolve().parent.parent / "phi3nb"

# What psutil's memory_info() gives on each OS (psutil/_ntuples.py), filled by hand.
LinuxMem = namedtuple("LinuxMem", "rss vms shared text lib data dirty")
WindowsMem = namedtuple("WindowsMem", "rss vms num_page_faults peak_wset wset peak_paged_pool paged_pool "
                                      "peak_nonpaged_pool nonpaged_pool pagefile peak_pagefile private uss")
MacMem = namedtuple("MacMem", "rss vms pfaults pageins uss")
MB = 1_000_000

# A child that allocates `anon` bytes (every page written), maps `mapped` bytes of a file (every page read),
# says "ready", frees the anonymous part on the next line of stdin, says "freed" and waits for another line.
_CHILD = """
import mmap, sys
anon = bytearray(int(sys.argv[1]))
for i in range(0, len(anon), 4096):
    anon[i] = 1
m = None
if len(sys.argv) > 2:
    with open(sys.argv[2], "rb") as f:
        m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    touched = sum(m[i] for i in range(0, len(m), 4096))
print("ready", flush=True)
sys.stdin.readline()
del anon
print("freed", flush=True)
sys.stdin.readline()
"""


def _watch_child(anon, mapped_file=None, interval=0.02):
    """(summary while the child held `anon` bytes and the file, summary after it freed the anonymous part)."""
    from phi3nb.bench.memwatch import MemorySampler

    argv = [sys.executable, "-c", _CHILD, str(anon)] + ([str(mapped_file)] if mapped_file else [])
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    sampler = MemorySampler(child.pid, interval=interval, uss_every=2).start()
    try:
        assert child.stdout.readline().strip() == "ready"
        seen = sampler.samples
        wait_for(lambda: sampler.samples >= seen + 4, "samples while the child holds its memory")
        held = sampler.summary()
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "freed"
        seen = sampler.samples
        wait_for(lambda: sampler.samples >= seen + 4, "samples after the child freed its memory")
        now = psutil.Process(child.pid).memory_info().rss
    finally:
        child.communicate("go\n", timeout=60)
    return held, sampler.stop(), now


def test_a_child_that_allocates_shows_at_least_that_much_anon_and_its_mapped_file(tmp_path):
    """400 MB anonymous and a 150 MB mapped file, watched from here: the peak and the anonymous part hold at
    least the 400 MB, the file-backed part at least the file (where the OS splits them), and the peak stays
    after the child frees the 400 MB."""
    anon, mapped = 400 * MB, 150 * MB
    data = tmp_path / "weights.bin"
    with open(data, "wb") as f:
        for _ in range(mapped // (10 * MB)):
            f.write(b"\1" * (10 * MB))
    held, done, rss_after = _watch_child(anon, data)
    peaks = done["all"]
    assert peaks["rss_mb"] >= (anon + mapped) / MB, peaks
    assert done["hwm_mb"] >= peaks["rss_mb"], done
    assert rss_after / MB < peaks["rss_mb"] - 300, (rss_after, peaks)  # freed, yet the peak is the peak
    assert held["all"]["rss_mb"] == peaks["rss_mb"]
    assert done["peak_source"] == ("peak_wset" if sys.platform == "win32" else "sampled")
    assert peaks["uss_peak_mb"] is None or peaks["uss_peak_mb"] >= anon / MB  # macOS may refuse it
    if sys.platform == "darwin":  # psutil splits nothing there
        assert peaks["rss_anon_mb"] is peaks["rss_file_mb"] is peaks["anon_peak_mb"] is None
        return
    assert anon / MB <= peaks["rss_anon_mb"] <= peaks["anon_peak_mb"] < (anon + 100 * MB) / MB, peaks
    assert mapped / MB <= peaks["rss_file_mb"] <= peaks["file_peak_mb"] < (mapped + 100 * MB) / MB, peaks
    if sys.platform.startswith("linux"):  # anon + file is the RSS there, at the same sample
        assert peaks["rss_anon_mb"] + peaks["rss_file_mb"] == pytest.approx(peaks["rss_mb"], abs=0.01)


def test_phases_keep_their_own_peaks():
    """A phase's peak is the largest RSS sampled while it ran; the whole run's is the largest of all."""
    from phi3nb.bench.memwatch import MemorySampler

    sampler = MemorySampler(interval=0.01, uss_every=0).start("small")
    time.sleep(0.05)
    sampler.phase("big")
    block = bytearray(300 * MB)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.05)
    del block
    sampler.phase("after")
    time.sleep(0.05)
    done = sampler.stop()
    small, big, after = (done["phases"][k]["rss_mb"] for k in ("small", "big", "after"))
    assert big >= small + 290 and big >= after + 290, done
    assert done["all"]["rss_mb"] == big and done["hwm_mb"] >= big
    assert done["all"]["uss_peak_mb"] is None  # uss_every=0: no page-table walk


def test_peak_rss_mb_is_this_process_peak_with_a_sampler():
    """The bench worker's reading: a sampler started before the runs gives the peak so far, not the RSS now."""
    from phi3nb.bench.memwatch import MemorySampler
    from phi3nb.bench.stats import peak_rss_mb

    sampler = MemorySampler(interval=0.01, uss_every=0).start()
    before = peak_rss_mb(sampler)
    block = bytearray(300 * MB)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(0.05)
    del block
    time.sleep(0.05)
    peak = peak_rss_mb(sampler)
    now = psutil.Process().memory_info().rss / MB
    sampler.stop()
    assert math.isfinite(before) and peak >= before + 290, (before, peak)
    assert peak >= now + 290, (peak, now)


def test_each_os_figures_from_psutils_fields():
    """Linux: anon = rss - shared, file = shared. Windows: anon = the private commit, file = the rest of the
    working set, the peak its peak working set. macOS: no split, no peak. USS where memory_full_info gave it."""
    from phi3nb.bench.memwatch import figures

    linux = figures(LinuxMem(rss=800, vms=9000, shared=300, text=1, lib=0, data=500, dirty=0), windows=False,
                    linux=True)
    assert linux == {"rss": 800, "anon": 500, "file": 300, "shmem": None, "uss": None, "peak": None}
    win = figures(WindowsMem(rss=800, vms=1200, num_page_faults=5, peak_wset=1500, wset=800, peak_paged_pool=0,
                             paged_pool=0, peak_nonpaged_pool=0, nonpaged_pool=0, pagefile=1200, peak_pagefile=1300,
                             private=600, uss=700), windows=True, linux=False)
    assert win == {"rss": 800, "anon": 600, "file": 200, "shmem": None, "uss": 700, "peak": 1500}
    paged_out = figures(WindowsMem(800, 2000, 5, 1500, 800, 0, 0, 0, 0, 2000, 2000, 2000, 100), windows=True,
                        linux=False)
    assert paged_out["anon"] == 2000 and paged_out["file"] == 0  # commit beyond the working set: no negative file
    mac = figures(MacMem(rss=800, vms=9000, pfaults=1, pageins=0, uss=650), windows=False, linux=False)
    assert mac == {"rss": 800, "anon": None, "file": None, "shmem": None, "uss": 650, "peak": None}
    assert figures(LinuxMem(0, 0, 0, 0, 0, 0, 0), windows=False, linux=True) == {}  # a zombie holds nothing


def test_the_sampler_takes_the_os_peak_where_there_is_one(monkeypatch):
    """Fed Windows-like readings, hwm_mb is the OS's peak working set (which saw a spike between samples) and
    says so; fed readings with no OS peak, the largest sample, and it says that."""
    import phi3nb.bench.memwatch as memwatch

    def feed(readings):
        it = iter(readings)
        monkeypatch.setattr(memwatch, "read_memory", lambda pid=None, uss=False: next(it, {}))
        sampler = memwatch.MemorySampler(pid=12345, interval=60)
        monkeypatch.setattr(sampler, "_proc", object())  # no real process behind pid 12345
        sampler.start()
        for _ in readings[1:]:
            sampler.sample()
        return sampler.stop()

    def reading(rss, anon, peak):
        return {"rss": rss * MB, "anon": anon * MB, "file": (rss - anon) * MB, "shmem": None, "uss": None,
                "peak": None if peak is None else peak * MB}

    win = feed([reading(100, 60, 100), reading(300, 250, 900), reading(200, 150, 900)])
    assert win["hwm_mb"] == 900 and win["peak_source"] == "peak_wset", win
    assert win["all"]["rss_mb"] == 300 and win["all"]["rss_anon_mb"] == 250 and win["all"]["rss_file_mb"] == 50
    assert win["all"]["anon_peak_mb"] == 250 and win["all"]["samples"] == 3
    linux = feed([reading(100, 60, None), reading(300, 250, None), reading(200, 190, None)])
    assert linux["hwm_mb"] == 300 and linux["peak_source"] == "sampled" and linux["interval_s"] == 60, linux
    assert linux["all"]["anon_peak_mb"] == 250


def _strings_outside_docstrings(tree):
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings]


def test_phi3nb_reads_no_proc_and_imports_no_posix_only_resource():
    """Portable by construction: no string of phi3nb's code (f-strings' parts included; docstrings may say
    "no /proc") names a /proc path, and no module imports `resource` (POSIX only)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found += [f"{path.relative_to(PACKAGE.parent)}:{n.lineno}: {n.value!r}" for n in _strings_outside_docstrings(tree)
                  if "/proc" in n.value]
        found += [f"{path.relative_to(PACKAGE.parent)}:{n.lineno}: import resource" for n in ast.walk(tree)
                  if isinstance(n, ast.Import) and any(a.name == "resource" for a in n.names)
                  or isinstance(n, ast.ImportFrom) and n.module == "resource"]
    assert len(list(PACKAGE.rglob("*.py"))) > 50  # the walk saw the package
    assert found == []


def test_the_readers_figures_reach_the_long_context_rows_and_the_report():
    """long_context keeps the parts an OS gives (macOS: RSS alone); the full-size report names the peak's source,
    VmHWM for a JSON from before psutil."""
    from phi3nb.bench.full_size.long_context import _mb
    from phi3nb.bench.full_size.report import _engine_rows
    from phi3nb.bench.memwatch import read_memory

    mine = _mb(read_memory())
    assert mine["rss_mb"] > 10 and (sys.platform == "darwin") == ("anon_mb" not in mine)
    assert _mb({"rss": 5 * MB, "anon": None, "file": None}) == {"rss_mb": 5.0}
    rows = [_engine_rows({"e": {"hwm_mb": 7.0, **extra}})[-1][0]
            for extra in ({}, {"peak_source": "sampled"}, {"peak_source": "peak_wset"})]
    assert rows == ["peak RSS MB, whole run (VmHWM)", "peak RSS MB, whole run (largest sample)",
                    "peak RSS MB, whole run (peak working set)"]


def test_disk_bytes_without_st_blocks_are_the_size():
    """Windows' os.stat has no st_blocks: a file's size stands for its allocation there."""
    from phi3nb.bench.memwatch import _allocated

    Stat = namedtuple("Stat", "st_size")
    assert _allocated(Stat(st_size=12345)) == 12345
    Posix = namedtuple("Posix", "st_size st_blocks")
    assert _allocated(Posix(st_size=100, st_blocks=8)) == 4096
