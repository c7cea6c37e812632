"""Run a worker job in a child process and return its JSON (or why it produced none); run jobs in rounds."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from phi3nb.speed.tune import rotated  # the same order as phi3nb tune's rounds


def run_job(job: dict, timeout=900, module="phi3nb.bench.worker") -> dict:
    with tempfile.TemporaryDirectory(prefix="phi3nb-bench-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job, default=str))
        try:
            proc = subprocess.run([sys.executable, "-m", module, str(job_path), str(out_path)],
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout} s"}
        if out_path.exists():
            return json.loads(out_path.read_text())
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
        return {"error": f"worker exited with {proc.returncode}: {' | '.join(tail)[-500:]}"}


def run_rounds(jobs: dict, rounds: int, log=print, describe=str, run=None) -> dict:
    """{name: [result per round]}: round r runs every job once, one run in a fresh process each, in the order
    rotated(names, r); so a busy minute on a shared machine hits every engine alike, not one engine's block
    of runs. A job that fails before it ever succeeded is not run again (None in the later rounds).
    `run(job)` runs one (default run_job); the job it gets carries "runs": 1 and its "round" r."""
    names = list(jobs)
    results = {name: [None] * rounds for name in names}
    dropped = set()
    for r in range(rounds):
        for name in rotated(names, r):
            if name in dropped:
                continue
            log(f"[bench] round {r + 1}/{rounds}: {describe(name)}...")
            res = (run or run_job)({**jobs[name], "runs": 1, "round": r})
            results[name][r] = res
            if "error" in res and not any(x is not None and "error" not in x for x in results[name]):
                dropped.add(name)
                log(f"[bench] {describe(name)} failed ({res['error'][:200]}); not run again")
    return results
