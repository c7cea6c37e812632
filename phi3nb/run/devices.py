"""Pick the OpenVINO device: the cookbook asks for GPU.0, which a laptop or CI runner may not have.

OpenVINO names a lone GPU `GPU`, and numbers them (`GPU.0`, `GPU.1`) only when there are
several, so the cookbook's `GPU.0` means "the first GPU", whatever it is called here.
"""

from ..cookbook import COOKBOOK_DEVICE
from ..errors import Phi3nbError

# Device families OpenVINO ships plugins for; a missing one falls back, an unknown name is a typo.
KNOWN_FAMILIES = ("CPU", "GPU", "NPU")
VIRTUAL = ("AUTO", "HETERO", "MULTI", "BATCH")


def available_devices() -> list:
    """This machine's devices as OpenVINO names them (the seam tests fake)."""
    import openvino as ov

    return list(ov.Core().available_devices)


def full_device_name(device) -> str:
    """The device's marketing name (e.g. "Intel(R) Arc(TM) Graphics"), or "" if OpenVINO can't say."""
    import openvino as ov

    try:
        return str(ov.Core().get_property(device, "FULL_DEVICE_NAME"))
    except RuntimeError:
        return ""


def _same_device(name, devices):
    """`name` as this machine lists it: GPU.0 is the lone `GPU`, and `GPU` is the first of several."""
    if name in devices:
        return name
    family, _, index = name.partition(".")
    numbered = [d for d in devices if d.startswith(family + ".")]  # OpenVINO lists them in order
    if index == "0" and family in devices:
        return family
    if not index and numbered:
        return numbered[0]
    return None


def resolve_device(requested=COOKBOOK_DEVICE, fallback="CPU") -> str:
    """The device to use for `requested`: itself if present, else `fallback` with one line saying so."""
    name = str(requested).strip().upper()
    devices = available_devices()
    if name.split(":")[0] in VIRTUAL:
        return name
    found = _same_device(name, devices)
    if found:
        return found
    if name.split(".")[0] in KNOWN_FAMILIES:
        if fallback not in devices:
            fallback = devices[0]
        print(f"[phi3nb] {requested} is not available on this machine (devices: {', '.join(devices)}); "
              f"using {fallback} instead.")
        return fallback
    raise Phi3nbError(f"Unknown device {requested!r}. This machine has: {', '.join(devices)}; "
                      "use one of those, or AUTO to let OpenVINO choose.")


def device_widget(default=COOKBOOK_DEVICE):
    """A Dropdown of this machine's devices (plus AUTO), each with its full name, preset to `default`."""
    import ipywidgets as widgets

    options = []
    for device in available_devices():
        name = full_device_name(device)
        options.append((f"{device}: {name}" if name else device, device))
    options.append(("AUTO: let OpenVINO choose", "AUTO"))
    return widgets.Dropdown(options=options, value=resolve_device(default), description="Device:",
                            layout=widgets.Layout(width="max-content"))
