"""Fixtures: the tiny random Phi-3 (see tiny_phi3.py), exported once per session with the cookbook's flags."""

from pathlib import Path

import pytest

from tiny_phi3 import tiny_phi3_source


@pytest.fixture(scope="session")
def tiny_phi3_hf() -> Path:
    return tiny_phi3_source()


@pytest.fixture(scope="session")
def tiny_phi3_ov(tiny_phi3_hf, tmp_path_factory) -> Path:
    """The tiny Phi-3 exported with the cookbook's exact flags (int4, g128, ratio 0.6, sym)."""
    from phi3nb import export_model

    return export_model(tiny_phi3_hf, tmp_path_factory.mktemp("ov") / "int4")


@pytest.fixture(scope="session")
def tiny_model(tiny_phi3_ov):
    """(model, tokenizer) loaded as the notebook does, asking for the cookbook's GPU.0."""
    from phi3nb import load_model, load_tokenizer

    return load_model(tiny_phi3_ov, device="GPU.0"), load_tokenizer(tiny_phi3_ov)
