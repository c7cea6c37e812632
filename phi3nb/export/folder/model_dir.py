"""Check an exported model folder before OpenVINO does, so a broken one gets a message, not a trace."""

import re
from pathlib import Path

from ...errors import Phi3nbError
from .lock import export_running, sibling

_REEXPORT = "Delete the folder and export again (phi3nb.export_model or `phi3nb export`)."
_CONST_DATA = re.compile(rb'<data\b[^>]*\boffset="(\d+)"[^>]*\bsize="(\d+)"')


def _compression_record(model_dir) -> bytes:
    """The <weight_compression> block nncf writes into the IR's rt_info, from the XML's tail only (b"" if none)."""
    xml = Path(model_dir) / "openvino_model.xml"
    try:
        with open(xml, "rb") as f:
            f.seek(max(0, xml.stat().st_size - 65536))
            tail = f.read()
    except OSError:
        return b""
    start = tail.rfind(b"<weight_compression>")
    return tail[start:] if start >= 0 else b""


def weight_compression(model_dir):
    """(mode, group size) nncf recorded in the IR's rt_info at the end of the XML, e.g. ("int4_sym", 128) or
    ("int8_sym", -1) (-1: per channel; None if no group was recorded); None if nothing was recorded.
    Only the XML's tail is read, not the model."""
    block = _compression_record(model_dir)
    mode = re.search(rb'<mode value="([^"]*)"', block)
    group = re.search(rb'<group_size value="(-?\d+)"', block)
    if not mode:
        return None
    return mode.group(1).decode(), int(group.group(1)) if group else None


def int4_ratio(model_dir):
    """The share of the layers nncf put in int4 (--ratio; the rest int8), or None if it recorded none."""
    found = re.search(rb'<ratio value="([0-9.]+)"', _compression_record(model_dir))
    return float(found.group(1)) if found else None


def int4_group_size(model_dir):
    """The int4 group size nncf recorded in the IR, -1 per channel; None if the weights are not int4 or
    nothing was recorded."""
    found = weight_compression(model_dir)
    return found[1] if found and found[0].startswith("int4") else None


def check_model_dir(model_dir) -> Path:
    """Return the folder if it holds a complete OpenVINO LLM export; else raise Phi3nbError."""
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        hint = ""
        if export_running(path):
            hint = " Another export to it is running now: wait for it to finish, then run this again."
        elif sibling(path, "partial").exists() or sibling(path, "old").exists():
            hint = " An export there was interrupted; run it again to finish."
        raise Phi3nbError(f"No model folder at {path}.{hint} Export one first with phi3nb.export_model(...) "
                          "or `phi3nb export MODEL_ID OUT`, or use the embedded model (PHI3NB_MODEL_ID=embedded).")
    xml, bin_ = path / "openvino_model.xml", path / "openvino_model.bin"
    if not xml.exists() and not bin_.exists():
        found = ", ".join(sorted(p.name for p in path.iterdir())[:8]) or "nothing"
        raise Phi3nbError(f"{path} holds no OpenVINO model (found: {found}). "
                          "Pass the folder the export wrote, or export into it first.")
    if not xml.exists() or not bin_.exists():
        missing = xml.name if not xml.exists() else bin_.name
        raise Phi3nbError(f"{path} is an incomplete export: {missing} is missing. {_REEXPORT}")
    needed = max((int(o) + int(s) for o, s in _CONST_DATA.findall(xml.read_bytes())), default=0)
    have = bin_.stat().st_size
    if have < needed:
        raise Phi3nbError(f"{bin_} is truncated ({have} of {needed} bytes). {_REEXPORT}")
    if not (path / "config.json").exists():
        raise Phi3nbError(f"{path} has no config.json, so the model's architecture is unknown. {_REEXPORT}")
    return path

