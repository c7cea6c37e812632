"""Fixtures: the tiny random Phi-3 (see tiny_phi3.py), exported once per session with the cookbook's flags."""

from pathlib import Path

import pytest

from tiny_phi3 import tiny_phi3_source
from tiny_phi_family import FAMILY


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


# The embedded SmolLM2-135M, exported once per machine (phi3nb prepare), loaded once per test session.
# Tests that read its words load it pinned to SAME_WORDS: the same words on every x86 CPU.
@pytest.fixture(scope="session")
def embedded_dir() -> Path:
    from phi3nb import prepare_embedded_model

    return prepare_embedded_model()


@pytest.fixture(scope="session")
def embedded_tokenizer(embedded_dir):
    from phi3nb import load_tokenizer

    return load_tokenizer(embedded_dir)


@pytest.fixture(scope="session")
def embedded_optimum(embedded_dir):
    """The cookbook's path (OVModelForCausalLM) on the embedded model, SAME_WORDS."""
    from phi3nb import load_model
    from pinned import SAME_WORDS

    return load_model(embedded_dir, device="CPU", ov_config=SAME_WORDS)


@pytest.fixture(scope="session")
def embedded_genai(embedded_dir):
    """The chat's path (openvino_genai) on the embedded model, SAME_WORDS."""
    from phi3nb.run.genai import load_genai
    from pinned import SAME_WORDS

    return load_genai(embedded_dir, device="CPU", ov_config=SAME_WORDS)


# The Phi family (tiny_phi_family.FAMILY): tests that take `member` run once per model, each stand-in built
# and exported once per session; Phi-3-mini's is the tiny Phi-3 above.
@pytest.fixture(scope="session", params=list(FAMILY))
def member(request):
    """(name, tiny_phi_family.Member); a test may pick members with parametrize("member", [...], indirect=True)."""
    return request.param, FAMILY[request.param]


@pytest.fixture(scope="session")
def member_hf(member, request, tmp_path_factory) -> Path:
    name, entry = member
    if name == "phi-3-mini":
        return request.getfixturevalue("tiny_phi3_hf")
    return entry.build(tmp_path_factory.mktemp(name) / "hf")


@pytest.fixture(scope="session")
def member_ov(member, member_hf, request, tmp_path_factory) -> Path:
    """The member's stand-in exported with the cookbook's exact flags."""
    from phi3nb import export_model

    if member[0] == "phi-3-mini":
        return request.getfixturevalue("tiny_phi3_ov")
    return export_model(member_hf, tmp_path_factory.mktemp(member[0]) / "int4")


@pytest.fixture(scope="session")
def member_model(member, member_ov, request):
    """(model, tokenizer) of the member, loaded as the notebook does."""
    from phi3nb import load_model, load_tokenizer

    if member[0] == "phi-3-mini":
        return request.getfixturevalue("tiny_model")
    return load_model(member_ov, device="GPU.0"), load_tokenizer(member_ov)


@pytest.fixture
def typed(monkeypatch):
    """typed(*lines): input() answers these lines, then Ctrl-D (EOFError), as a person at `phi3nb chat` would."""
    def type_in(*lines):
        lines = iter(lines)

        def fake_input(prompt=""):
            try:
                return next(lines)
            except StopIteration:
                raise EOFError from None

        monkeypatch.setattr("builtins.input", fake_input)

    return type_in


@pytest.fixture
def edited_measurement(monkeypatch):
    """edit(name, change): from now on phi3nb.measurements.read(name) gives the committed JSON with change(run)
    applied (the file itself untouched), so a test can show that the words a reader sees follow the file."""
    import phi3nb.measurements as measurements

    real, edits = measurements.read, {}

    def read(name):
        run = real(name)
        if name in edits:
            edits[name](run)
        return run

    monkeypatch.setattr(measurements, "read", read)
    return edits.__setitem__
