"""The CPU a figure was measured on: its model name and the flags OpenVINO's fast paths depend on.

The name and precisions come from OpenVINO's CPU plugin, the flags from CPUID through PyTorch (numpy's table if
torch cannot say): the same answer on Windows, macOS and Linux, with no /proc or lscpu.

phi3nb tune and phi3nb profile print it beside every figure, and decide from it what is worth timing;
the bench records it in every JSON.
"""

CPU_FLAGS = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8")  # what the engines' fast paths depend on, spelt as lscpu and /proc/cpuinfo spell them

# torch.cpu.get_capabilities() (PyTorch's cpuinfo library: CPUID, on Windows, macOS and Linux alike) spells these
# flags otherwise than lscpu does; every other flag it knows it spells as lscpu does.
_LSCPU_NAMES = {"avx512_f": "avx512f", "avx512_cd": "avx512cd", "avx512_dq": "avx512dq", "avx512_bw": "avx512bw",
                "avx512_vl": "avx512vl", "avx512_ifma": "avx512ifma", "avx512_vbmi": "avx512vbmi", "fma3": "fma",
                "bmi": "bmi1", "sse3": "pni", "lzcnt": "abm", "sha": "sha_ni"}
# numpy's own CPUID table (numpy._core's __cpu_features__), the fallback: it has no AVX-VNNI (the 256-bit one of
# Intel's laptop CPUs since Alder Lake) and no AMX, so with it alone a CPU without AVX-512 VNNI is "unknown".
_NUMPY_NAMES = {"AVX2": "avx2", "AVX512F": "avx512f", "AVX512VNNI": "avx512_vnni", "AVX512BF16": "avx512_bf16",
                "AVX512FP16": "avx512_fp16"}


def quantizes_activations(cpu) -> bool | None:
    """Whether OpenVINO's CPU plugin can quantize activations to int8 on this CPU (`cpu`: cpu_info()), i.e.
    whether DYNAMIC_QUANTIZATION_GROUP_SIZE changes anything. Its matrix products do so only with AVX-VNNI or
    AVX-512 VNNI (useDynamicQuantizationImpl, the plugin's dnnl_fullyconnected_primitive.cpp), which AVX2-only
    CPUs (AMD Zen 2 and 3, Intel laptops up to Comet Lake, Xeons before Cascade Lake) lack. None if the CPU's
    flags are unknown (or only numpy's table was there to read, which cannot see AVX-VNNI)."""
    flags = set(cpu.get("flags") or ())
    if not flags:
        return None
    if flags & {"avx_vnni", "avx512_vnni"}:
        return True
    return None if cpu.get("flags_from") == "numpy" else False


def _openvino_cpu():
    """(FULL_DEVICE_NAME, OPTIMIZATION_CAPABILITIES) of OpenVINO's CPU plugin (the same on every OS), or
    (None, None) if OpenVINO cannot say. The capabilities name precisions, e.g. BF16 with AVX-512 BF16 or AMX."""
    try:
        import openvino as ov

        core = ov.Core()
        return (str(core.get_property("CPU", "FULL_DEVICE_NAME")).strip() or None,
                [str(c) for c in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")])
    except (ImportError, RuntimeError):
        return None, None


def _cpuid_flags():
    """(every flag the CPU has, in lscpu's spelling; where they came from) read through CPUID on any OS:
    PyTorch's capabilities, else numpy's table (a few flags only); (set(), None) if neither can say."""
    try:
        import torch

        caps = torch.cpu.get_capabilities()
        return {_LSCPU_NAMES.get(k, k) for k, v in caps.items() if v is True}, "torch"
    except (ImportError, AttributeError, RuntimeError):  # no torch, or one older than get_capabilities
        pass
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as found
    except ImportError:
        return set(), None
    return {name for key, name in _NUMPY_NAMES.items() if found.get(key)}, "numpy"


def cpu_info(all_flags=False) -> dict:
    """{"model", "flags" (those in CPU_FLAGS that the CPU has), "logical_cpus", "ov_capabilities", "flags_from"}:
    the CPU every figure was measured on, as OpenVINO names it and CPUID describes it, on any OS (no /proc).
    all_flags=True adds "lscpu_flags", every flag the CPUID reading knows, in lscpu's spelling."""
    import os
    import platform

    model, capabilities = _openvino_cpu()
    flags, source = _cpuid_flags()
    info = {"model": model or platform.processor() or None, "flags": [f for f in CPU_FLAGS if f in flags],
            "logical_cpus": os.cpu_count(), "ov_capabilities": capabilities, "flags_from": source}
    return {**info, "lscpu_flags": sorted(flags)} if all_flags else info


def cpu_text(cpu) -> str:
    """"<model name> (<flags>)" from cpu_info(), or None if no CPU was recorded."""
    if not cpu:
        return None
    flags = " ".join(cpu.get("flags") or []) or "no AVX2, AVX-512 or AMX"
    return f"{cpu.get('model') or 'unknown'} ({flags})"


def format_cpu(cpu) -> str:
    """"CPU: <model name> (<flags>)", the line every figure travels with."""
    return f"CPU: {cpu_text(cpu) or 'not recorded'}"
