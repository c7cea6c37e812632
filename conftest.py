"""Loaded for every pytest run here (tests/ and the nbval run of notebooks/).

The whole suite is offline, and nbval runs the notebook on a tiny random Phi-3 by setting
the notebook's parameters through environment variables before its kernel starts.
"""

import os
import sys
from pathlib import Path

# This suite never reaches a model hub: fail fast instead of waiting on timeouts.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent / "tests"))

from tiny_phi3 import SESSION, tiny_phi3_source  # noqa: E402


def pytest_configure(config):
    """Point the notebook's parameters cell at the tiny model when nbval runs it."""
    if not (getattr(config.option, "nbval_lax", False) or getattr(config.option, "nbval", False)):
        return
    if "PHI3NB_MODEL_ID" not in os.environ:
        os.environ["PHI3NB_MODEL_ID"] = str(tiny_phi3_source())
        os.environ["PHI3NB_MODEL_DIR"] = str(SESSION["base"] / "nbval-int4")
        os.environ.setdefault("PHI3NB_MAX_NEW_TOKENS", "24")


def pytest_unconfigure(config):
    import shutil

    if "base" in SESSION:
        shutil.rmtree(SESSION["base"], ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Soak and other long runs are opt-in: PHI3NB_SLOW=1 pytest -m slow."""
    if os.environ.get("PHI3NB_SLOW") == "1":
        return
    import pytest

    skip = pytest.mark.skip(reason="slow soak test: run with PHI3NB_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
