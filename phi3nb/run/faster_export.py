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


def slow_part(cpu, compression, ratio=None) -> str | None:
    """What of an export's format, not a runtime setting, is the slow part on this CPU: "int8" (int8 weights on a
    CPU without VNNI, which OpenVINO unpacks to f32), "mixed" (int8 layers beside the int4 ones: the cookbook's
    --ratio 0.6, on any CPU), or None."""
    if not compression:
        return None
    if quantizes_activations(cpu) is False and compression[0].startswith("int8"):
        return "int8"
    if compression[0].startswith("int4") and ratio is not None and ratio < 1:
        return "mixed"
    return None


def speedups(cpu) -> tuple:
    """([(the fast preset's decode speed / the cookbook export's, run)], of this CPU's class?): from the committed
    full-size runs of `cpu`'s class where there are any, else from all of them."""
    found = [(a / b, run) for run in map(measurements.read, FULL_SIZE_RUNS)
             if (a := decode_speed(run, "genai-fast")) and (b := decode_speed(run, "genai-chat"))]
    own = [(x, run) for x, run in found if cpu_class(run["meta"].get("cpu")) == cpu_class(cpu)]
    return (own, True) if own else (found, False)


def export_advice(cpu, compression, ratio=None, phi3=True):
    """What to tell the owner of an export whose format is the slow part here (slow_part), or None, at length
    (`phi3nb tune`). phi3: the model is a Phi-3 (model_type phi3, as Phi-3.5-mini and Phi-4-mini are), whose
    published quality figures are then quoted with their address."""
    slow = slow_part(cpu, compression, ratio)
    if slow == "int8":
        return ("this export's weights are int8, which this CPU (no VNNI) unpacks and multiplies in f32: an "
                f"all-int4 export decodes faster here: {SUGGESTED}. {quality_cost('int8', phi3)}")
    if slow == "mixed":
        found, own = speedups(cpu)
        on = "this CPU's class, " if own else ""
        speed = "; ".join(f"{x:.2f}x on {on}{machine(run['meta'])}" for x, run in found) or "not measured"
        return (f"{ratio:.0%} of this export's layers are int4 and the rest int8 (--ratio {ratio:g}); an all-int4 "
                f"export decodes faster (Phi-3-mini at full size, the fast preset against the cookbook's flags: "
                f"{speed}): {SUGGESTED}. {quality_cost('mixed', phi3)}")
    return None


def load_line(cpu, compression, ratio=None) -> str | None:
    """export_advice for a Phi-3 export in the few words a load line has room for (the chat box shows it), or
    None; the figures' sources are named by the docs page that shows them whole."""
    slow = slow_part(cpu, compression, ratio)
    if slow is None:
        return None
    published = measurements.read(PUBLISHED_QUALITY)
    lambada, errors = published["lambada_openai"]["rows"], published["trade_off"]["rows"]
    where = "docs/how-fast.md, Answer quality"
    if slow == "int8":
        return (f"Faster export: all-int4, `{SUGGESTED}`; this CPU has no VNNI, so OpenVINO multiplies these int8 "
                f"weights in f32. NNCF publishes an average error of "
                f"{errors['int4, all layers, scale estimation']['average_relative_error']:.1%} for that format on "
                f"Phi-3-mini, {errors['int8']['average_relative_error']:.1%} for int8 ({where}).")
    found, own = speedups(cpu)
    ratios = [x for x, _ in found]
    speed = (f"{ratios[0]:.2f}x as fast as this export's int4/int8 mix on a CPU of this class "
             f"({cpu_name(found[0][1]['meta'].get('cpu'))}, {date(found[0][1]['meta'])})" if own else
             f"{min(ratios):.2f}-{max(ratios):.2f}x as fast as this export's int4/int8 mix on the CPUs measured")
    return (f"Faster export: all-int4, `{SUGGESTED}`, decodes Phi-3-mini {speed}. NNCF publishes "
            f"{lambada['int4_sym_r100_gs128_scale']['accuracy']:.1%} lambada accuracy for that format on Phi-3-mini, "
            f"{lambada['fp32']['accuracy']:.1%} unquantized ({where}).")


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
