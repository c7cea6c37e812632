"""Peak memory of a process, split into file-backed and anonymous, and peak disk use of folders, sampled
from a watcher thread through psutil: the same code on Windows, macOS and Linux (no /proc of our own).

A process that maps a model file shows those pages in its RSS; the OS can drop and re-read them, so a host
plans on the anonymous part plus whatever file pages stay hot. What each figure is, per OS (None where psutil
does not give it there; bytes from read_memory, MB in MemorySampler.summary):

  rss    Linux: VmRSS (psutil's rss, from statm). Windows: the working set. macOS: the resident size.
  anon   Linux: rss - psutil's `shared` = RssAnon. Windows: psutil's `private`, the private commit charge: the
         bytes only RAM or the pagefile can hold, resident or paged out (so it can exceed rss; what Windows
         charges against RAM + pagefile). Not psutil's uss, which counts a file view only this process maps
         (a loaded model's weights) as its own. macOS: None (psutil gives rss and uss there, no split).
  file   Linux: psutil's `shared` = RssFile + RssShmem (shared memory was 0.004 MB at most in every committed
         run). Windows: rss - private (at least 0): the working set's mapped files and images, a lower bound
         when private memory is paged out. macOS: None.
  shmem  None everywhere: psutil does not tell RssShmem from RssFile (before psutil, Linux read it apart).
  uss    psutil's memory_full_info().uss, pages no other process maps (a file only this process maps counts
         too). Linux: Private_* of smaps_rollup. Windows: such pages of the working set. macOS: private pages;
         another user's or a signed process's often AccessDenied: None. Read every `uss_every` samples only:
         it walks the page tables (a few ms for a 10 GB process).
  peak   the OS's own exact peak RSS where psutil gives one: Windows' peak working set (peak_wset). Linux and
         macOS: None (VmHWM is not in psutil); MemorySampler takes its largest sampled rss instead.
"""

import os
import threading
from pathlib import Path

import psutil

PEAK_OS, PEAK_SAMPLED = "peak_wset", "sampled"  # MemorySampler.summary()["peak_source"]


def _process(pid):
    return pid if isinstance(pid, psutil.Process) else psutil.Process(pid)


def figures(info, windows=psutil.WINDOWS, linux=psutil.LINUX) -> dict:
    """{"rss", "anon", "file", "shmem", "uss", "peak"} in bytes from a psutil memory_info() or memory_full_info()
    tuple (None where this OS does not give the figure; see the module's docstring); {} for a process holding no
    memory (a zombie)."""
    if not info.rss:
        return {}
    out = {"rss": info.rss, "anon": None, "file": None, "shmem": None, "uss": getattr(info, "uss", None),
           "peak": None}
    if linux:
        out["file"], out["anon"] = info.shared, max(info.rss - info.shared, 0)
    elif windows:
        out["anon"], out["file"], out["peak"] = info.private, max(info.rss - info.private, 0), info.peak_wset
    return out


def read_memory(pid=None, uss=False) -> dict:
    """figures() of process `pid` (a pid or a psutil.Process; this process by default), with USS if `uss`
    (None if the OS refuses it); {} if the process is gone or cannot be read."""
    try:
        proc = _process(pid)
        if uss:
            try:
                return figures(proc.memory_full_info())
            except psutil.AccessDenied:
                pass
        return figures(proc.memory_info())
    except (psutil.Error, OSError):
        return {}


def _mb(v):
    return None if v is None else v / 1e6


def _max(a, b):
    return a if b is None else b if a is None else max(a, b)


class MemorySampler:
    """Samples a process every `interval` s in a thread; peaks overall and per phase (`phase(name)`).

    A peak of RSS keeps what it was made of (anon/file/shmem at that sample); anon, file and USS also keep
    their own peaks. USS is read every `uss_every` samples (0: never). The whole run's peak (hwm_mb) is the
    OS's exact one where psutil gives it (Windows), else the largest RSS sampled: summary() says which.
    """

    def __init__(self, pid=None, interval=0.2, uss_every=5):
        self.pid, self.interval, self.uss_every = pid or os.getpid(), interval, uss_every
        self.samples, self._phase, self._peaks, self._os_peak, self._proc = 0, None, {}, None, None
        self._stop, self._lock = threading.Event(), threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, phase="all"):
        self._phase = phase
        self.sample()
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            if not self.sample():
                return  # the process is gone

    def _read(self, uss) -> dict:
        if self._proc is None:
            try:
                self._proc = psutil.Process(self.pid)
            except (psutil.Error, OSError):
                return {}
        return read_memory(self._proc, uss)

    def sample(self) -> bool:
        mem = self._read(bool(self.uss_every) and self.samples % self.uss_every == 0)
        if not mem:
            return False
        with self._lock:
            self.samples += 1
            self._os_peak = _max(self._os_peak, mem["peak"])
            for key in dict.fromkeys(("all", self._phase)):  # once if the phase is "all" (start()'s default)
                p = self._peaks.setdefault(key, {"rss": 0, "at_peak": {}, "anon": None, "file": None, "uss": None,
                                                 "samples": 0})
                p["samples"] += 1
                if mem["rss"] > p["rss"]:
                    p["rss"] = mem["rss"]
                    p["at_peak"] = {k: mem[k] for k in ("anon", "file", "shmem")}
                for k in ("anon", "file", "uss"):
                    p[k] = _max(p[k], mem[k])
        return True

    def phase(self, name):
        """From now on samples also count for phase `name` (the previous phase ends here)."""
        self.sample()
        with self._lock:
            self._phase = name
        self.sample()

    def peak_mb(self):
        """The process's peak RSS so far in MB (after a sample now), as summary()'s hwm_mb; None if never read."""
        self.sample()
        return self.summary()["hwm_mb"]

    @property
    def peak_source(self) -> str:
        """PEAK_OS if hwm_mb is the OS's exact peak (Windows), PEAK_SAMPLED if it is the largest sampled RSS."""
        return PEAK_OS if self._os_peak is not None else PEAK_SAMPLED

    def stop(self) -> dict:
        self.sample()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.summary()

    def summary(self) -> dict:
        """{"all": peaks, "phases": {name: peaks}, "hwm_mb", "peak_source", "interval_s"}, each peaks dict in MB:
        rss_mb, rss_anon_mb / rss_file_mb / rss_shmem_mb (at the RSS peak), anon_peak_mb, file_peak_mb, uss_peak_mb
        (each as the module's docstring says, per OS).

        hwm_mb, the whole run's peak RSS: with peak_source "peak_wset" (Windows) the OS's exact peak working set
        as of the last sample; with "sampled" (Linux, macOS) the largest RSS of samples every interval_s, so a
        spike shorter than that can be missed. A JSON without peak_source was written on Linux before psutil: its
        hwm_mb is the kernel's exact VmHWM."""
        def mb(p):
            at = p["at_peak"]
            return {"rss_mb": _mb(p["rss"]), "rss_anon_mb": _mb(at.get("anon")), "rss_file_mb": _mb(at.get("file")),
                    "rss_shmem_mb": _mb(at.get("shmem")), "anon_peak_mb": _mb(p["anon"]),
                    "file_peak_mb": _mb(p["file"]), "uss_peak_mb": _mb(p["uss"]), "samples": p["samples"]}

        with self._lock:
            phases = {k: mb(v) for k, v in self._peaks.items() if k != "all"}
            sampled = self._peaks["all"]["rss"] if "all" in self._peaks else None
            return {"all": mb(self._peaks["all"]) if "all" in self._peaks else None, "phases": phases,
                    "hwm_mb": _mb(_max(self._os_peak, sampled)), "peak_source": self.peak_source,
                    "interval_s": self.interval}


def _allocated(st) -> int:
    """Bytes a file takes on disk: its blocks where the OS says (POSIX), else its size (Windows)."""
    blocks = getattr(st, "st_blocks", None)
    return blocks * 512 if blocks is not None else st.st_size


def tree_bytes(path) -> int:
    """Bytes allocated on disk under `path` (a file or a folder, recursively; 0 if missing): what fills a disk."""
    path = Path(path)
    try:
        if not path.is_dir():
            return _allocated(path.stat()) if path.exists() else 0
    except OSError:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += _allocated(os.lstat(os.path.join(root, name)))
            except OSError:  # removed while we walked
                pass
    return total


class DiskWatcher:
    """The peak, over samples every `interval` s, of the bytes under `paths` above what they held at the start.

    Watch a folder's parent to see its `.NAME.partial` sibling and whatever else the writer leaves beside it.
    """

    def __init__(self, paths, interval=0.5):
        self.paths, self.interval = [Path(p) for p in paths], interval
        self.samples, self.start_bytes, self.peak_bytes, self.last_bytes = 0, None, 0, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.sample()
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> int:
        now = sum(tree_bytes(p) for p in self.paths)
        if self.start_bytes is None:
            self.start_bytes = now
        self.peak_bytes, self.last_bytes = max(self.peak_bytes, now), now
        self.samples += 1
        return now

    def stop(self) -> dict:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()
        return {"peak_added_mb": (self.peak_bytes - self.start_bytes) / 1e6,
                "end_added_mb": (self.last_bytes - self.start_bytes) / 1e6, "samples": self.samples}
