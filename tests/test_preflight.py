"""Before an export or a load that cannot fit, phi3nb says what it needs, what there is and what to do,
instead of the kernel dying part-way. Memory and disk readings are faked (phi3nb.export.fit's seams)."""

import warnings

import pytest

import phi3nb
import phi3nb.export.fit as pf
from phi3nb import Phi3nbError


def _machine(monkeypatch, available, swap=0, disk=10 ** 15):
    monkeypatch.setattr(pf, "_memory", lambda: (available, swap))
    monkeypatch.setattr(pf, "_free_disk", lambda folder: disk)


def _phi3_mini_config():
    from transformers import Phi3Config

    from phi3nb.standins.phi3_random import PHI3_MINI_4K_CONFIG

    return Phi3Config(**PHI3_MINI_4K_CONFIG)


def test_the_parameter_count_of_phi3_mini_comes_out_of_its_config():
    assert pf.count_params(_phi3_mini_config()) == pf.PHI3_MINI_PARAMS


def test_a_load_that_fits_goes_ahead_silently(tiny_phi3_ov, monkeypatch):
    anon, total = pf.load_needs(tiny_phi3_ov)
    _machine(monkeypatch, available=2 * total)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = phi3nb.load_model(tiny_phi3_ov, device="CPU")
    assert model is not None


@pytest.mark.parametrize("load", ["load_model", "load_genai"])
def test_a_load_that_cannot_fit_says_what_it_needs_and_has_before_loading(tiny_phi3_ov, monkeypatch, capsys, load):
    anon, total = pf.load_needs(tiny_phi3_ov)
    assert 0 < anon < total
    _machine(monkeypatch, available=anon // 3)
    with pytest.raises(Phi3nbError) as refused:
        getattr(phi3nb, load)(tiny_phi3_ov, device="CPU")
    message = str(refused.value)
    assert f"needs ~{pf._gb(anon)}" in message and f"({pf._gb(total)} in all)" in message
    assert f"has {pf._gb(anon // 3)} available" in message
    assert "close other notebooks' kernels" in message and pf.SKIP in message
    assert "loading" not in capsys.readouterr().out  # refused before OpenVINO started


def test_a_tight_load_warns_and_goes_ahead_and_swap_counts_only_as_slow(tiny_phi3_ov, monkeypatch):
    anon, total = pf.load_needs(tiny_phi3_ov)
    _machine(monkeypatch, available=(anon + total) // 2)
    with pytest.warns(pf.MemoryWarning, match="from disk again"):
        pf.check_load_fits(tiny_phi3_ov)
    _machine(monkeypatch, available=anon // 2, swap=anon)
    with pytest.warns(pf.MemoryWarning, match="swapping"):
        pf.check_load_fits(tiny_phi3_ov)
    _machine(monkeypatch, available=0)
    monkeypatch.setenv(pf.SKIP, "1")
    pf.check_load_fits(tiny_phi3_ov)  # the escape hatch the message names


def test_exporting_phi3_mini_on_a_small_machine_points_to_the_preconverted_model(tmp_path, monkeypatch):
    config, flags = _phi3_mini_config(), {"weight_format": "int4", "ratio": 0.6}
    _machine(monkeypatch, available=2 * pf.GB)
    with pytest.raises(Phi3nbError, match="Not enough memory") as refused:
        pf.check_export_fits(tmp_path, tmp_path / "int4", flags, config)
    message = str(refused.value)
    assert f"needs ~{pf.PHI3_MINI_EXPORT_ANON_GB:.3g} GB" in message and f"{pf.PHI3_MINI_EXPORT_PEAK_GB:.3g} GB in all" in message
    assert "has 2 GB available" in message and pf.PHI3_PRECONVERTED in message
    _machine(monkeypatch, available=8 * pf.GB)
    with pytest.warns(pf.MemoryWarning, match="Memory is tight to export"):
        pf.check_export_fits(tmp_path, tmp_path / "int4", flags, config)


def test_an_export_that_would_fill_the_disk_stops_before_it_starts(tmp_path, monkeypatch):
    config = _phi3_mini_config()
    _machine(monkeypatch, available=64 * pf.GB, disk=pf.GB)
    with pytest.raises(Phi3nbError, match="Not enough disk") as refused:
        pf.check_export_fits(tmp_path, tmp_path / "int8", {"weight_format": "int8"}, config)
    message = str(refused.value)
    assert "has 1 GB free" in message and f"export int4 (~{pf._gb(pf.PHI3_MINI_EXPORT_OUTPUT_MB * pf.MB)})" in message

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    _machine(monkeypatch, available=64 * pf.GB, disk=12 * pf.GB)  # room for the export, not for the download too
    with pytest.raises(Phi3nbError, match="the download of microsoft/Phi-3-mini-4k-instruct"):
        pf.check_export_fits("microsoft/Phi-3-mini-4k-instruct", tmp_path / "int4", {"weight_format": "int4",
                                                                                     "ratio": 0.6}, config)


def test_export_model_checks_before_writing_and_not_when_it_reuses(tiny_phi3_hf, tiny_phi3_ov, tmp_path, monkeypatch):
    _machine(monkeypatch, available=64 * pf.GB, disk=0)
    target = tmp_path / "int4"
    with pytest.raises(Phi3nbError, match="Not enough disk"):
        phi3nb.export_model(tiny_phi3_hf, target)
    assert not target.exists() and not list(tmp_path.iterdir())  # nothing started, nothing left
    assert phi3nb.export_model(tiny_phi3_hf, tiny_phi3_ov) == tiny_phi3_ov  # a finished export needs no room
