"""Set up phi3nb in ./.venv on Linux, macOS or Windows (idempotent): what `bash setup.sh` runs.

    python setup_env.py               # the notebook and the `phi3nb` command
    python setup_env.py --test        # plus the test and docs tools (and Debian's chromium for the browser tests)
    python setup_env.py --remote-only # only what chatting on the room's server needs (no OpenVINO, no torch)

Then it downloads and exports the embedded model, so the first run needs no network.
Its first line names the Python and platform (so a CI log says which ran), or why this machine cannot run phi3nb.
"""

import argparse
import os
import platform
import re
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
LLAMA_CPP = "llama-cpp-python"
# What llama.cpp's build needs where no compiler comes with the OS (scikit-build-core, its build backend,
# fetches CMake and Ninja from PyPI when they are missing, so the compiler is what a user must install).
LLAMA_CPP_NEEDS = {
    "Windows": "Microsoft's C++ Build Tools (MSVC: the 'Desktop development with C++' workload of Visual Studio "
               "or of its Build Tools; CMake comes from PyPI if it is missing)",
    "Darwin": "Xcode's command line tools (`xcode-select --install`; CMake comes from PyPI if it is missing)",
}
# The Pythons phi3nb's set-up and tests have run on (README, "Install notes").
TESTED_PYTHONS = ("3.10", "3.11", "3.13")
# --remote-only: what `phi3nb chat --url` and ChatBox(RemoteChat(...)) import, by name; their versions come
# from pyproject.toml's dependencies. Checked on Linux with only these installed (no OpenVINO, no torch).
REMOTE_ONLY = ("openai", "transformers", "jupyterlab", "ipywidgets", "markdown-it-py")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd, check=True, env=None) -> int:
    """Run one set-up step; a failed step that must not fail stops the set-up with its command."""
    code = subprocess.run([str(c) for c in cmd], env=env).returncode
    if check and code != 0:
        raise SystemExit(f"[setup] this step failed (exit {code}): {' '.join(str(c) for c in cmd)}")
    return code


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


def where() -> str:
    """This Python and platform, as the first line says them."""
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}"
            f"{' (64-bit)' if sys.maxsize > 2**32 else ' (32-bit)'}")


def cannot_run():
    """Why this machine cannot run phi3nb's stack (OpenVINO, openvino-genai, torch), with what to do instead,
    or None. Each case is a platform for which PyPI has no wheel (checked with `pip download --only-binary`)."""
    system, machine = platform.system(), platform.machine().lower()
    python, scripts = ("py", ".venv\\Scripts\\") if system == "Windows" else ("python3", ".venv/bin/")
    remote = (f"chat on the room's server instead: `{python} setup_env.py --remote-only`, then "
              f"`{scripts}phi3nb chat --url http://HOST:8000/v3`")
    if sys.version_info[:2] < (3, 10):
        return (f"phi3nb needs Python 3.10 or newer, and this is Python {platform.python_version()}: install "
                f"Python {TESTED_PYTHONS[-1]} (python.org) and run this set-up with it.")
    if sys.maxsize <= 2**32:
        return ("phi3nb needs a 64-bit Python: OpenVINO and PyTorch publish no 32-bit wheels. Install the 64-bit "
                "Python (python.org) and run this set-up with it.")
    if system == "Darwin" and machine in ("x86_64", "i386"):
        return ("phi3nb cannot run on an Intel Mac: OpenVINO 2026.4, openvino-genai and openvino-tokenizers "
                "publish no macOS x86-64 wheels, and PyTorch has published none since 2.2. "
                f"You can {remote}; or run phi3nb on a Linux VM, a Windows PC or an Apple Silicon Mac. "
                "(On an Apple Silicon Mac, this Python is an Intel build running under Rosetta: install the "
                "universal2 Python from python.org and run this set-up with it.)")
    if system == "Darwin" and machine == "arm64":
        release = platform.mac_ver()[0]
        major = int(release.split(".")[0]) if release.split(".")[0].isdigit() else 0
        if 0 < major < 14:
            return (f"phi3nb needs macOS 14 (Sonoma) or newer on Apple Silicon, and this is macOS {release}: "
                    f"PyTorch publishes its {TORCH.split('==')[1]} wheels for macOS 14 and newer only. "
                    f"Update macOS, or {remote}.")
    if system == "Windows" and machine in ("arm64", "aarch64"):
        return ("phi3nb cannot run on Windows on Arm: OpenVINO 2026.4, openvino-genai, openvino-tokenizers and "
                f"PyTorch {TORCH.split('==')[1]} publish no Windows Arm64 wheels. You can {remote}; "
                "or run phi3nb on an x86-64 PC.")
    return None


def pyproject_list(text: str, key: str) -> list:
    """The strings of a one-level TOML list `key = [...]` (pyproject.toml's dependencies or an extra):
    tomllib is Python 3.11+, and this set-up runs on 3.10 too."""
    found = re.search(rf"^{re.escape(key)}\s*=\s*\[(.*?)\]\s*$", text, re.MULTILINE | re.DOTALL)
    if found is None:
        raise SystemExit(f"[setup] pyproject.toml has no `{key} = [...]` list.")
    body = "\n".join(line.split(" #")[0] for line in found.group(1).splitlines())
    return re.findall(r'"([^"]+)"', body)


def requirement_name(spec: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", spec).group(0).lower().replace("_", "-")


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


def install_test_tools(pip: list, root: Path, text: str) -> None:
    """The test and docs extras, llama.cpp's server last and on its own: on Windows and macOS, where its build
    needs a compiler the OS may lack, a failed build leaves everything else installed (tests/test_remote.py
    then skips, saying why); on Linux, where CI needs the server, it stops the set-up."""
    system = platform.system()
    tools = pyproject_list(text, "test")
    llama = [spec for spec in tools if requirement_name(spec) == LLAMA_CPP]
    run(pip + ["-e", f"{root}[docs]"] + [spec for spec in tools if spec not in llama])
    env = dict(os.environ)
    if platform.machine().lower() in ("x86_64", "amd64"):
        env.setdefault("CMAKE_ARGS", LLAMA_CPP_CMAKE_ARGS)
    if llama and run(pip + llama, check=system not in LLAMA_CPP_NEEDS, env=env) != 0:
        print(f"[setup] llama.cpp's server ({LLAMA_CPP}) did not build, so tests/test_remote.py will skip; "
              f"everything else is installed. Its build needs {LLAMA_CPP_NEEDS[system]}: install that and run "
              "this set-up again.", flush=True)


def install_remote_only(pip: list, root: Path, text: str) -> None:
    """phi3nb without OpenVINO or torch: enough to chat on a server (`phi3nb chat --url`, ChatBox(RemoteChat))."""
    wanted = [spec for spec in pyproject_list(text, "dependencies") if requirement_name(spec) in REMOTE_ONLY]
    run(pip + ["--no-deps", "-e", str(root)])
    run(pip + wanted)
    scripts = ".venv\\Scripts\\" if os.name == "nt" else ".venv/bin/"
    print(f"[setup] phi3nb for the room's server only: `{scripts}phi3nb chat --url http://HOST:8000/v3`, or in "
          f"JupyterLab `phi3nb.ChatBox(phi3nb.RemoteChat(\"http://HOST:8000/v3\"))`. Exporting and running a model "
          "here (the notebook's steps 1-10, `phi3nb demo`) needs OpenVINO and torch, which this set-up leaves out.",
          flush=True)


def main(argv=None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--test", action="store_true", help="also install the test and docs tools")
    parser.add_argument("--remote-only", action="store_true",
                        help="install only what chatting on a server needs (`phi3nb chat --url`): no OpenVINO, "
                             "no torch; for machines that cannot run them (Intel Macs)")
    args = parser.parse_args(argv)
    start = time.monotonic()
    why_not = None if args.remote_only else cannot_run()
    if why_not:
        print(f"[setup] {why_not} ({where()})", flush=True)
        return 1
    mode = " --test" if args.test else " --remote-only" if args.remote_only else ""
    tested = platform.python_version().rsplit(".", 1)[0] in TESTED_PYTHONS
    note = "" if tested else f"; untested: phi3nb has run on Python {', '.join(TESTED_PYTHONS)}"
    print(f"[setup] phi3nb set-up{mode}: {where()}, {sys.executable}{note}", flush=True)
    system = platform.system()
    if args.test:
        print(f"[setup] the test tools include llama.cpp's server, built from source: its first build takes 5-25 "
              f"minutes on 2 cores (pip keeps the wheel).", flush=True)
        if system in LLAMA_CPP_NEEDS:
            print(f"[setup] on {'Windows' if system == 'Windows' else 'macOS'} that build needs "
                  f"{LLAMA_CPP_NEEDS[system]}. If it fails, everything else is still installed and the server "
                  "tests skip, saying why.", flush=True)
    text = (root / "pyproject.toml").read_text(encoding="utf-8")
    venv = root / ".venv"
    python = venv_python(venv)
    if not python.exists():
        run([sys.executable, "-m", "venv", venv])
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if args.remote_only:
        install_remote_only(pip, root, text)
    else:
        run(pip + torch_args(os.environ.get("PHI3NB_TORCH_INDEX", TORCH_CPU_INDEX)))
        if args.test:
            install_test_tools(pip, root, text)
            install_chromium()
        else:
            run(pip + [root])
        run([python, "-m", "pip", "check"])
        run([python, "-m", "phi3nb.cli", "prepare"])
    print(f"[setup] done in {time.monotonic() - start:.0f} s ({where()}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
