"""The CPU a figure was measured on: its model name and the flags OpenVINO's fast paths depend on.

phi3nb tune and phi3nb profile print it beside every figure, and decide from it what is worth timing;
the bench records it in every JSON.
"""

CPU_FLAGS = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16",
             "amx_int8")  # what the engines' fast paths depend on


def quantizes_activations(cpu) -> bool | None:
    """Whether OpenVINO's CPU plugin can quantize activations to int8 on this CPU (`cpu`: cpu_info()), i.e.
    whether DYNAMIC_QUANTIZATION_GROUP_SIZE changes anything. Its matrix products do so only with AVX-VNNI or
    AVX-512 VNNI (useDynamicQuantizationImpl, the plugin's dnnl_fullyconnected_primitive.cpp), which AVX2-only
    CPUs (AMD Zen 2 and 3, Intel laptops up to Comet Lake, Xeons before Cascade Lake) lack. None if the CPU's flags are unknown."""
    flags = set(cpu.get("flags") or ())
    return bool(flags & {"avx_vnni", "avx512_vnni"}) if flags else None


def cpu_info(cpuinfo="/proc/cpuinfo", all_flags=False) -> dict:
    """{"model", "flags" (those in CPU_FLAGS that the CPU has), "logical_cpus"}: the CPU every figure was
    measured on; all_flags=True adds "lscpu_flags", every flag (what lscpu prints). Without /proc/cpuinfo
    (not Linux): platform.processor() and no flags."""
    import os
    import platform

    model, flags = None, set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        model = platform.processor() or None
    info = {"model": model, "flags": [f for f in CPU_FLAGS if f in flags], "logical_cpus": os.cpu_count()}
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
