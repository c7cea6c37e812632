"""load_genai's CPU settings: `phi3nb tune`'s pick for this CPU if there is one, else phi3nb's default on top of
the cookbook's ov_config (phi3nb's own choice, not the cookbook's), and the load line's words for which and why.

The why is what was measured on this CPU's class (phi3nb/measurements/cpu-configs-*.json): the default against
the alternatives, alternated in fresh processes at Phi-3-mini's full size. Why each hint, per CPU
class: phi3nb/bench/README.md ("Without AVX-512 (and with it)"); `phi3nb tune` times the alternatives on the
user's CPU.
"""

import json
from pathlib import Path

from ..cookbook import OV_CONFIG
from ..export.folder.model_dir import int4_group_size, int4_ratio, weight_compression
from .. import measurements
from ..measurements import CPU_CONFIG_RUNS, cpu_class, cpu_name, date
from .cpu import cpu_info, quantizes_activations
from .devices import full_device_name

TUNED_FILE = "phi3nb_tuned.json"  # written by `phi3nb tune MODEL_DIR` beside the model

# f32 on the CPU: on CPUs with bf16 (AVX512_BF16/AMX) OpenVINO infers in bf16 by default and then decodes
# int4 weights without dynamic int8 quantization of the activations; f32 turns that VNNI path on (where the
# CPU has VNNI), so int4 decoding is faster, and greedy answers match PyTorch token for token.
F32_HINT = {"INFERENCE_PRECISION_HINT": "f32"}
# The int8 activations of those products quantized per 128 inputs, not the plugin's 32: a little faster on
# the 4-layer Phi-3-mini slice with group-128 weights, natively and with AVX2+AVX-VNNI kernels
# (ONEDNN_MAX_CPU_ISA=AVX2_VNNI); perplexity unchanged. OpenVINO quantizes activations only on CPUs
# with VNNI (AVX-VNNI or AVX-512 VNNI); on AVX2-only CPUs (AMD Zen 2/3, Intel up to Comet Lake)
# this changes nothing (cpu.quantizes_activations). Never larger than the weights' own group
# (fast_cpu_config fits it): group-64 weights with 128 ran slower. The alternations at full size, with
# their CPU: phi3nb/measurements/cpu-configs-*.json (rendered in phi3nb/bench/README.md).
DQ_GROUP = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 128}
# Where alternations at full size on a CPU class found another activation group faster for an export's int4
# weight group (-1: per output channel, no group for the activations' to stay within), that group is the default
# there (phi3nb/measurements/cpu-configs-*.json). On the AMD Zen 4 class Phi-3-mini decoded fastest with 256 on
# per-channel weights and with the plugin's own 32 on group-128 weights (the all-int4 export by far, the
# cookbook's int4/int8 mix by a little). Elsewhere DQ_GROUP's, until someone alternates it on that class
# (`phi3nb tune` tries them on yours).
CLASS_DQ = {"AVX-512 VNNI/BF16, no AMX": {-1: 256, 128: 32}}
FAST_CPU_HINTS = {**F32_HINT, **DQ_GROUP}
FAST_CPU_CONFIG = {**OV_CONFIG, **FAST_CPU_HINTS}


def cpu_config(path, cpu=None) -> tuple:
    """(config, the load line's "CPU config: ..." line) a CPU load uses when the caller gives none."""
    cpu = cpu or cpu_info()
    default = fast_cpu_config(path, cpu=cpu)
    config, tuned = tuned_config(path, default)
    if config is not default:
        return config, tuned
    return default, why_default(default, cpu, weight_compression(path), int4_ratio(path)) + tuned


def why_default(config, cpu, weights=None, ratio=None, runs=CPU_CONFIG_RUNS) -> str:
    """"CPU config: ...": phi3nb's default as it acts on this CPU, and how it fared where it was alternated with
    the alternatives on a CPU of the same class (an export like this one first: `weights` its (mode, group) as
    weight_compression reads it, `ratio` its int4_ratio); where nothing was, says so."""
    hints = config.get("INFERENCE_PRECISION_HINT") == "f32", config.get("DYNAMIC_QUANTIZATION_GROUP_SIZE")
    bf16 = "BF16" in (cpu.get("ov_capabilities") or ())
    vnni = quantizes_activations(cpu)
    if not bf16 and vnni is False:
        return ("CPU config: the cookbook's ov_config as it is: this CPU has neither bf16 nor VNNI, so phi3nb's f32 "
                "hint and activation group change nothing here (OpenVINO computes in f32 and unpacks int4 to f32).")
    what = [w for w, on in (("f32 math", bf16 and hints[0]),
                            (f"int8 activations per {hints[1]} inputs", vnni is not False and hints[1])) if on]
    said = f"CPU config: phi3nb's default ({', '.join(what) or 'the cookbook ov_config'}): "
    same = [run for run in map(measurements.read, runs) if cpu_class(run["meta"]["cpu"]) == cpu_class(cpu)]
    alike = lambda r: tuple(r["meta"]["weights"]) == tuple(weights or ())  # noqa: E731
    run = max(same, default=None, key=lambda r: (alike(r), alike(r) and r["meta"].get("int4_ratio") == ratio))
    if run is None:
        return (f"{said}not yet measured against the alternatives on a CPU of this class ({cpu_class(cpu)}). "
                "`phi3nb tune MODEL_DIR` measures them on yours, and the load then uses its pick.")
    medians, meta = run["median_tpot_ms"], run["meta"]
    best = min(medians, key=medians.get)
    behind = medians[meta["default"]] / medians[best] - 1
    place = ("the fastest" if round(behind, 2) == 0 else f"within {behind:.0%} of the fastest" if behind < 0.05
             else f"{behind:.0%} slower a token than the fastest")
    fastest = f"; the fastest: {meta['configs'][best]}" if place.endswith("slower a token than the fastest") else ""
    return (f"{said}{place} of {len(medians)} configs on a CPU of this class ({cpu_name(meta['cpu'])}, "
            f"{date(meta)}; {meta['export_short']}){fastest}. `phi3nb tune MODEL_DIR` measures them on yours.")


def fast_cpu_config(model_dir, base=FAST_CPU_CONFIG, cpu=None) -> dict:
    """`base` with the activations' quantization group the one measured fastest on `cpu`'s class for the
    export's int4 group (CLASS_DQ; cpu: cpu_info(), read only for such a group if not given), and never larger
    than the weights' group: a larger one makes OpenVINO leave its fast int4 kernel (DQ_GROUP)."""
    config = dict(base)
    group, key = int4_group_size(model_dir), "DYNAMIC_QUANTIZATION_GROUP_SIZE"
    if key not in config:
        return config
    if any(group in groups for groups in CLASS_DQ.values()):
        config[key] = CLASS_DQ.get(cpu_class(cpu or cpu_info()), {}).get(group, config[key])
    if group and 0 < group < config[key]:
        config[key] = group
    return config


def tuned_config(path, default) -> tuple:
    """(config, words for the load line): phi3nb_tuned.json's if it was measured on this CPU, else `default`."""
    try:
        tuned = json.loads((Path(path) / TUNED_FILE).read_text())
        config = dict(tuned["ov_config"])
    except (OSError, ValueError, KeyError, TypeError):
        return default, ""
    if tuned.get("cpu") != full_device_name("CPU"):
        return default, f" Not using {TUNED_FILE}: it was tuned on {tuned.get('cpu')}; run phi3nb tune again."
    changes = [f"{k}={config[k]}" for k in config if default.get(k) != config[k]]
    changes += [f"no {k}" for k in default if k not in config]
    return config, (f"CPU config: {TUNED_FILE}'s {tuned.get('winner')}, which `phi3nb tune` measured fastest for this "
                    f"export on this CPU{' on ' + tuned['date'] if tuned.get('date') else ''}: phi3nb's default with "
                    f"{', '.join(changes) or 'nothing changed'}")
