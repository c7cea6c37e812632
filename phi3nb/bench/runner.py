"""Run a worker job in a child process and return its JSON (or why it produced none)."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path


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
