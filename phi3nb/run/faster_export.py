"""An export that decodes faster on this CPU than the one being loaded, and what it costs in answer quality.

phi3nb only suggests it: the export a user made is the one that loads, and the cookbook's flags stay the
notebook's default. The speed-up is the committed full-size runs' (phi3nb/measurements/full-size-*.json), this
CPU's class first; the cost is what NNCF publishes for Phi-3-mini-4k-instruct
(published-quality-phi3-mini.json), since random-weight stand-ins cannot show answer quality.
"""

import json
from pathlib import Path

from .. import measurements
from ..measurements import FULL_SIZE_RUNS, PUBLISHED_QUALITY, cpu_class, decode_speed, machine
from .cpu import quantizes_activations

SUGGESTED = "phi3nb export MODEL OUT --preset fast-se"  # all-int4 with scale estimation: the fast preset's format


def export_advice(cpu, compression, ratio=None, phi3=True, link=True):
    """What to tell the owner of an export whose format, not a runtime setting, is the slow part, or None:
    int8 weights on a CPU without VNNI (OpenVINO unpacks them to f32 there), int8 layers beside the int4 ones
    (the cookbook's --ratio 0.6) on any CPU. phi3: the model is a Phi-3 (model_type phi3, as Phi-3.5-mini and
    Phi-4-mini are), whose published quality figures are then quoted; link: with the source's address (the
    load's short line names the docs page that has it)."""
    if not compression:
        return None
    if quantizes_activations(cpu) is False and compression[0].startswith("int8"):
        return ("this export's weights are int8, which this CPU (no VNNI) unpacks and multiplies in f32: an "
                f"all-int4 export decodes faster here: {SUGGESTED}. {quality_cost('int8', phi3, link)}")
    if compression[0].startswith("int4") and ratio is not None and ratio < 1:
        return (f"{ratio:.0%} of this export's layers are int4 and the rest int8 (--ratio {ratio:g}); an all-int4 "
                f"export decodes faster (Phi-3-mini at full size, the fast preset against the cookbook's flags: "
                f"{measured_speedup('genai-fast', 'genai-chat', cpu)}): {SUGGESTED}. {quality_cost('mixed', phi3, link)}")
    return None


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


def quality_cost(what, phi3=True, link=True) -> str:
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
    where = meta["url"] if link else "its weight compression guide, linked in phi3nb's docs: how-fast.md, Answer quality"
    return f"Its cost, as NNCF publishes it for Phi-3-mini-4k-instruct: {said} ({where})."


def is_phi3(model_dir) -> bool:
    """Whether the folder holds a Phi-3 (Phi-3, Phi-3.5 and Phi-4-mini all say model_type phi3)."""
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("model_type") == "phi3"
    except (OSError, ValueError):
        return False
