"""The CPU every figure travels with, and what OpenVINO can do on it."""

import pytest


def test_cpu_info_reads_the_flags_that_matter(tmp_path):
    from phi3nb.speed.cpu import cpu_info, format_cpu

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Fake Xeon 9999\nflags\t\t: fpu sse avx2 avx512f amx_tile "
                       "avx512_bf16 avx512_vnni\n\nprocessor\t: 1\nmodel name\t: Fake Xeon 9999\nflags\t\t: fpu\n")
    info = cpu_info(cpuinfo)
    assert info["model"] == "Fake Xeon 9999"
    assert info["flags"] == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"]
    assert format_cpu(info) == "CPU: Fake Xeon 9999 (avx2 avx512f avx512_vnni avx512_bf16 amx_tile)"
    assert cpu_info(tmp_path / "missing")["flags"] == []


@pytest.mark.parametrize("flags, expected", [(["avx2"], False), (["avx2", "avx_vnni"], True),
                                             (["avx2", "avx512f", "avx512_vnni"], True), ([], None)])
def test_int8_activations_need_vnni(flags, expected):
    from phi3nb.speed.cpu import quantizes_activations

    assert quantizes_activations({"model": "x", "flags": flags}) is expected
