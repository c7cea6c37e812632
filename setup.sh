#!/usr/bin/env bash
# Set up phi3nb in ./.venv (idempotent): `bash setup.sh` for the notebook and the CLI,
# `bash setup.sh --test` adds the test tools and Chromium for the browser test.
# Then it downloads and exports the embedded model, so the first run needs no network.
set -euo pipefail
cd "$(dirname "$0")"

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

start=$(date +%s)
[ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check --progress-bar off)

# The CPU build of torch first (~200 MB, not several GB of CUDA). Where PyPI's torch is a CUDA
# build, point PHI3NB_TORCH_INDEX at https://download.pytorch.org/whl/cpu.
"${pip[@]}" "torch==2.13.0" ${PHI3NB_TORCH_INDEX:+--index-url "$PHI3NB_TORCH_INDEX"}
if [ $with_tests = 1 ]; then
  "${pip[@]}" -e ".[test]"
  if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "[setup] installing Debian's chromium for the browser test..."
    (apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }) \
      || echo "[setup] chromium could not be installed: the browser test will be skipped, saying why."
  fi
else
  "${pip[@]}" -e .
fi
.venv/bin/python -m pip check
.venv/bin/phi3nb prepare
echo "[setup] done in $(( $(date +%s) - start )) s; .venv is $(du -sh .venv | cut -f1)."
