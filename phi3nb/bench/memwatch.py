"""Peak memory of a process, split into file-backed and anonymous, and peak disk use of folders, sampled
from a watcher thread (Linux /proc; elsewhere the figures are None).

A process that maps a model file shows those pages in its RSS (RssFile); the kernel can drop and
re-read them, so a host plans on the anonymous part (RssAnon) plus whatever file pages stay hot. USS
(the process's private pages, from smaps_rollup, as psutil computes it) is sampled less often: walking
the page tables of a 10 GB process takes a few milliseconds.
"""

import os
import threading
from pathlib import Path

_STATUS = {"VmRSS": "rss", "RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem", "VmHWM": "hwm"}


def read_status(pid) -> dict:
    """{"rss", "anon", "file", "shmem", "hwm"} in bytes from /proc/PID/status; {} if it cannot be read."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in _STATUS:
                    out[_STATUS[key]] = int(value.split()[0]) * 1024
    except (OSError, ValueError):
        return {}
    return out


def read_uss(pid):
    """Private (unshared) bytes of the process, from /proc/PID/smaps_rollup; None if unreadable."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:", "Private_Hugetlb:")):
                    total += int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return total


def _mb(v):
    return None if v is None else v / 1e6


class MemorySampler:
    """Samples a process every `interval` s in a thread; peaks overall and per phase (`phase(name)`).

    A peak of RSS keeps what it was made of (anon/file/shmem at that sample); anon, file and USS also
    keep their own peaks. VmHWM, the kernel's exact peak RSS, is read at the end.
    """

    def __init__(self, pid=None, interval=0.2, uss_every=5):
        self.pid, self.interval, self.uss_every = pid or os.getpid(), interval, uss_every
        self.samples, self._phase, self._peaks, self._hwm = 0, None, {}, None
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

    def sample(self) -> bool:
        status = read_status(self.pid)
        if not status:
            return False
        uss = read_uss(self.pid) if self.samples % self.uss_every == 0 else None
        with self._lock:
            self.samples += 1
            self._hwm = status.get("hwm", self._hwm)
            for key in ("all", self._phase):
                p = self._peaks.setdefault(key, {"rss": 0, "at_peak": {}, "anon": 0, "file": 0, "uss": None,
                                                 "samples": 0})
                p["samples"] += 1
                if status.get("rss", 0) > p["rss"]:
                    p["rss"] = status["rss"]
                    p["at_peak"] = {k: status.get(k) for k in ("anon", "file", "shmem")}
                p["anon"] = max(p["anon"], status.get("anon", 0))
                p["file"] = max(p["file"], status.get("file", 0))
                if uss is not None:
                    p["uss"] = max(p["uss"] or 0, uss)
        return True

    def phase(self, name):
        """From now on samples also count for phase `name` (the previous phase ends here)."""
        self.sample()
        with self._lock:
            self._phase = name
        self.sample()

    def stop(self) -> dict:
        self.sample()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.summary()

    def summary(self) -> dict:
        """{"all": peaks, "phases": {name: peaks}, "hwm_mb"}, each peaks dict in MB:
        rss_mb, rss_anon_mb / rss_file_mb / rss_shmem_mb (at the RSS peak), anon_peak_mb, file_peak_mb, uss_peak_mb."""
        def mb(p):
            at = p["at_peak"]
            return {"rss_mb": _mb(p["rss"]), "rss_anon_mb": _mb(at.get("anon")), "rss_file_mb": _mb(at.get("file")),
                    "rss_shmem_mb": _mb(at.get("shmem")), "anon_peak_mb": _mb(p["anon"]),
                    "file_peak_mb": _mb(p["file"]), "uss_peak_mb": _mb(p["uss"]), "samples": p["samples"]}

        with self._lock:
            phases = {k: mb(v) for k, v in self._peaks.items() if k != "all"}
            return {"all": mb(self._peaks["all"]) if "all" in self._peaks else None, "phases": phases,
                    "hwm_mb": _mb(self._hwm)}


def tree_bytes(path) -> int:
    """Bytes allocated on disk under `path` (a file or a folder, recursively; 0 if missing): what fills a disk."""
    path = Path(path)
    try:
        if not path.is_dir():
            return path.stat().st_blocks * 512 if path.exists() else 0
    except OSError:
        return 0
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
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
