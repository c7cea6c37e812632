#!/usr/bin/env bash
# Build the docs site into docs/_build/html (index.html at its root), offline, in 1-3 minutes:
# run the tutorial notebook on the embedded model, render the pages with Sphinx (warnings are errors),
# then check every local link. Any failing step stops the build. See docs/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PHI3NB_PYTHON:-.venv/bin/python}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # this tree's phi3nb, in the notebook's kernel too
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
start=$SECONDS

echo "[docs] 1/3 the tutorial notebook -> docs/tutorial.ipynb"
"$PY" docs/execute_tutorial.py

echo "[docs] 2/3 Sphinx -> docs/_build/html (warnings are errors)"
rm -rf docs/_build/html docs/_build/doctrees
"$PY" -m sphinx -W --keep-going -q -b html -d docs/_build/doctrees docs docs/_build/html

echo "[docs] 3/3 links"
"$PY" docs/check_links.py docs/_build/html

echo "[docs] built in $((SECONDS - start)) s: docs/_build/html/index.html"
