"""Set up phi3nb in ./.venv on Linux, macOS or Windows (idempotent): what `bash setup.sh` runs.

    python setup_env.py          # the notebook and the `phi3nb` command
    python setup_env.py --test   # plus the test and docs tools (and Debian's chromium for the browser tests)

Then it downloads and exports the embedded model, so the first run needs no network.
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TORCH = "torch==2.13.0"
# PyTorch's CPU wheels: 192 MB (754 MB installed) for Linux x86-64, where PyPI's default Linux wheel is
# a CUDA build that pulls several GB of NVIDIA libraries. macOS and Windows wheels on PyPI are CPU-only.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The test extra builds llama-cpp-python (its server stands in for the room's OpenVINO Model Server;
# ~10 min on 2 cores, then pip reuses the built wheel). Its default -march=native build crashes on
# AMX CPUs, so on x86-64 it is built for AVX2 (every CPU seen so far has it), the same on every machine.
LLAMA_CPP_CMAKE_ARGS = ("-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
                        "-DGGML_F16C=ON -DGGML_BMI2=ON")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def reachable(index: str, timeout: float = 5) -> bool:
    """True if the package index answers within `timeout` seconds."""
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def torch_args(index: str) -> list:
    """pip arguments for torch: the CPU index if it answers, else pip's default index, saying so."""
    if reachable(index):
        return [TORCH, "--index-url", index]
    print(f"[setup] {index} is out of reach: torch comes from pip's default index "
          "(on Linux, PyPI's is a multi-GB CUDA build).", flush=True)
    return [TORCH]


def install_chromium():
    """Debian's chromium for the browser test (root on Debian/Ubuntu only); else the test skips, saying why."""
    if shutil.which("chromium") or not shutil.which("apt-get") or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    print("[setup] installing Debian's chromium for the browser test...", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], **quiet).returncode != 0:
        ok = (subprocess.run(["apt-get", "update", "-qq"]).returncode == 0
              and subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"]).returncode == 0)
        if not ok:
            print("[setup] chromium could not be installed: the browser test will be skipped, saying why.")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", action="store_true", help="also install the test and docs tools")
    args = parser.parse_args(argv)
    start = time.monotonic()
    venv = ROOT / ".venv"
    python = venv_python(venv)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    subprocess.run(pip + torch_args(os.environ.get("PHI3NB_TORCH_INDEX", TORCH_CPU_INDEX)), check=True)
    env = dict(os.environ)
    if args.test and platform.machine().lower() in ("x86_64", "amd64"):
        env.setdefault("CMAKE_ARGS", LLAMA_CPP_CMAKE_ARGS)
        print("[setup] the test tools include llama.cpp's server: its first build takes 5-17 minutes on 2 cores "
              "(pip keeps the wheel).", flush=True)
    subprocess.run(pip + ["-e", f"{ROOT}[test,docs]" if args.test else str(ROOT)], check=True, env=env)
    if args.test:
        install_chromium()
    subprocess.run([str(python), "-m", "pip", "check"], check=True)
    subprocess.run([str(python), "-m", "phi3nb.cli", "prepare"], check=True)
    print(f"[setup] done in {time.monotonic() - start:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
