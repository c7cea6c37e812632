"""The CPU every figure travels with, and what OpenVINO can do on it."""

import re
from pathlib import Path

import pytest


def proc_flags():
    """/proc/cpuinfo's flags (this test's Linux, as lscpu prints them): what cpu_info must agree with."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        pytest.skip("no /proc/cpuinfo to compare with")
    return set(re.search(r"^flags\s*:(.*)$", text, re.MULTILINE).group(1).split())


def test_cpu_info_reads_the_cpu_on_any_os_without_proc(monkeypatch):
    """The name from OpenVINO and the flags from CPUID, with /proc unreadable (as on Windows and macOS)."""
    import builtins
    import io

    import openvino as ov
    from phi3nb.run.cpu import CPU_FLAGS, cpu_info, format_cpu

    lscpu = proc_flags()
    real_open, real_io_open = builtins.open, io.open

    def no_proc(opener):
        def opened(file, *args, **kwargs):
            if str(file).startswith("/proc"):
                raise FileNotFoundError(2, "No such file or directory", str(file))
            return opener(file, *args, **kwargs)
        return opened
    monkeypatch.setattr(builtins, "open", no_proc(real_open))
    monkeypatch.setattr(io, "open", no_proc(real_io_open))
    monkeypatch.setattr(Path, "read_text", no_proc(Path.read_text))
    info = cpu_info(all_flags=True)
    core = ov.Core()
    assert info["model"] == core.get_property("CPU", "FULL_DEVICE_NAME")
    assert info["flags"] == [f for f in CPU_FLAGS if f in lscpu]  # the same flags as lscpu's, and spelt as it does
    assert set(info["lscpu_flags"]) <= lscpu and {"avx2", "fma", "sse4_2"} <= set(info["lscpu_flags"])
    assert info["ov_capabilities"] == list(core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    assert format_cpu(info) == f"CPU: {info['model']} ({' '.join(info['flags'])})"


def test_without_torch_numpys_table_gives_the_avx512_flags_and_no_verdict_on_avx_vnni(monkeypatch):
    import sys

    from phi3nb.run.cpu import cpu_info, quantizes_activations

    lscpu = proc_flags()
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    info = cpu_info()
    assert info["flags_from"] == "numpy"
    from numpy._core._multiarray_umath import __cpu_features__ as table

    from phi3nb.run.cpu import _NUMPY_NAMES

    named = {name for key, name in _NUMPY_NAMES.items() if key in table}  # numpy 2.2 (Python 3.10) has no BF16
    assert set(info["flags"]) == {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16"} & lscpu & named
    if "avx512_vnni" not in lscpu:  # numpy cannot see AVX-VNNI, so it cannot say "no VNNI"
        assert quantizes_activations(info) is None


@pytest.mark.parametrize("flags, expected", [(["avx2"], False), (["avx2", "avx_vnni"], True),
                                             (["avx2", "avx512f", "avx512_vnni"], True), ([], None)])
def test_int8_activations_need_vnni(flags, expected):
    from phi3nb.run.cpu import quantizes_activations

    assert quantizes_activations({"model": "x", "flags": flags}) is expected


def test_numpys_flags_without_avx512_vnni_are_no_verdict():
    from phi3nb.run.cpu import quantizes_activations

    assert quantizes_activations({"flags": ["avx2"], "flags_from": "numpy"}) is None
    assert quantizes_activations({"flags": ["avx2", "avx512_vnni"], "flags_from": "numpy"}) is True
