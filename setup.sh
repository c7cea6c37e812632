#!/usr/bin/env bash
# Set up phi3nb in ./.venv (idempotent): `bash setup.sh` for the notebook and the CLI,
# `bash setup.sh --test` adds the test tools. The work is in setup_env.py, which also runs on
# macOS and Windows (`py setup_env.py`).
set -euo pipefail
cd "$(dirname "$0")"
exec "${PYTHON:-python3}" setup_env.py "$@"
