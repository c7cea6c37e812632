"""An export that decodes faster on this CPU than the one being loaded, and what it costs in answer quality.

phi3nb only suggests it: the export a user made is the one that loads, and the cookbook's flags stay the
notebook's default. The speed-up is the committed full-size runs' (phi3nb/measurements/full-size-*.json), this
CPU's class first; the cost is what NNCF publishes for Phi-3-mini-4k-instruct
(published-quality-phi3-mini.json), since random-weight stand-ins cannot show answer quality.
"""

import json
from pathlib import Path

from .. import measurements
from ..measurements import FULL_SIZE_RUNS, PUBLISHED_QUALITY, cpu_class, cpu_name, date, decode_speed, machine
from .cpu import quantizes_activations

SUGGESTED = "phi3nb export MODEL OUT --preset fast-se"  # all-int4 with scale estimation: the fast preset's format


def export_advice(cpu, compression, ratio=None, phi3=True):
    """What to tell the owner of an export whose format, not a runtime setting, is the slow part, or None:
    int8 weights on a CPU without VNNI (OpenVINO unpacks them to f32 there), int8 layers beside the int4 ones
    (the cookbook's --ratio 0.6) on any CPU. phi3: the model is a Phi-3 (model_type phi3, as Phi-3.5-mini and
    Phi-4-mini are), whose published quality figures are then quoted with their address."""
    if not compression:
        return None
    if quantizes_activations(cpu) is False and compression[0].startswith("int8"):
        return ("this export's weights are int8, which this CPU (no VNNI) unpacks and multiplies in f32: an "
                f"all-int4 export decodes faster here: {SUGGESTED}. {quality_cost('int8', phi3)}")
    if compression[0].startswith("int4") and ratio is not None and ratio < 1:
        return (f"{ratio:.0%} of this export's layers are int4 and the rest int8 (--ratio {ratio:g}); an all-int4 "
                f"export decodes faster (Phi-3-mini at full size, the fast preset against the cookbook's flags: "
                f"{measured_speedup('genai-fast', 'genai-chat', cpu)}): {SUGGESTED}. {quality_cost('mixed', phi3)}")
    return None


def load_line(cpu, compression, ratio=None) -> str | None:
    """export_advice for a Phi-3 export in the few words a load line has room for (the chat box shows it), or
    None; the figures' sources are named by the docs page that shows them whole."""
    if export_advice(cpu, compression, ratio) is None:
        return None
    published = measurements.read(PUBLISHED_QUALITY)
    lambada, errors = published["lambada_openai"]["rows"], published["trade_off"]["rows"]
    where = "docs/how-fast.md, Answer quality"
    if compression[0].startswith("int8"):
        return (f"Faster export: all-int4, `{SUGGESTED}`; this CPU has no VNNI, so OpenVINO multiplies these int8 "
                f"weights in f32. NNCF publishes an average error of "
                f"{errors['int4, all layers, scale estimation']['average_relative_error']:.1%} for that format on "
                f"Phi-3-mini, {errors['int8']['average_relative_error']:.1%} for int8 ({where}).")
    speedups = [(a / b, run) for run in map(measurements.read, FULL_SIZE_RUNS)
                if (a := decode_speed(run, "genai-fast")) and (b := decode_speed(run, "genai-chat"))]
    own = [(x, run) for x, run in speedups if cpu_class(run["meta"].get("cpu")) == cpu_class(cpu)]
    speed = (f"{own[0][0]:.2f}x as fast as this export's int4/int8 mix on a CPU of this class "
             f"({cpu_name(own[0][1]['meta'].get('cpu'))}, {date(own[0][1]['meta'])})" if own else
             f"{min(x for x, _ in speedups):.2f}-{max(x for x, _ in speedups):.2f}x as fast as this export's int4/int8 "
             "mix on the CPUs measured")
    return (f"Faster export: all-int4, `{SUGGESTED}`, decodes Phi-3-mini {speed}. NNCF publishes "
            f"{lambada['int4_sym_r100_gs128_scale']['accuracy']:.1%} lambada accuracy for that format on Phi-3-mini, "
            f"{lambada['fp32']['accuracy']:.1%} unquantized ({where}).")


def measured_speedup(fast, slow, cpu=None) -> str:
    """"1.31x on 2-core AMD EPYC (...), 2026-12-07": `fast`'s decode speed over `slow`'s in the committed
    full-size runs of `cpu`'s class, or in each run that has both where none is of its class."""
    found, same = [], []
    for name in FULL_SIZE_RUNS:
        run = measurements.read(name)
        a, b = decode_speed(run, fast), decode_speed(run, slow)
        if a and b:
            found.append(f"{a / b:.2f}x on {machine(run['meta'])}")
            if cpu is not None and cpu_class(run["meta"].get("cpu")) == cpu_class(cpu):
                same.append(f"{a / b:.2f}x on this CPU's class, {machine(run['meta'])}")
    return "; ".join(same or found) or "not measured"


def quality_cost(what, phi3=True) -> str:
    """The published answer-quality cost of going all-int4 from `what` ("mixed": the cookbook's int4/int8 mix;
    "int8"), with its source; for a model that is not a Phi-3, that nothing was published for it."""
    if not phi3:
        return "It costs some answer quality; nothing is published for this model."
    published = measurements.read(PUBLISHED_QUALITY)
    meta, lambada = published["meta"], published["lambada_openai"]["rows"]
    errors = published["trade_off"]["rows"]
    if what == "int8":
        said = (f"average relative error against the unquantized model: {errors['int8']['average_relative_error']:.1%} "
                f"for int8, {errors['int4, all layers, scale estimation']['average_relative_error']:.1%} for all-int4 "
                "with scale estimation")
    else:
        said = (f"lambada_openai accuracy {lambada['int4_sym_r100_gs128_scale']['accuracy']:.1%} all-int4 with scale "
                f"estimation (fast-se), {lambada['int4_sym_r100_gs128']['accuracy']:.1%} without (--preset fast), "
                f"{lambada['fp32']['accuracy']:.1%} unquantized; the cookbook's mix is not in its tables")
    return f"Its cost, as NNCF publishes it for Phi-3-mini-4k-instruct: {said} ({meta['url']})."


def is_phi3(model_dir) -> bool:
    """Whether the folder holds a Phi-3 (Phi-3, Phi-3.5 and Phi-4-mini all say model_type phi3)."""
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("model_type") == "phi3"
    except (OSError, ValueError):
        return False
