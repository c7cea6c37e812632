"""Pick the OpenVINO device: the cookbook asks for GPU.0, which a laptop or CI runner may not have."""

from .errors import Phi3nbError

# Device families OpenVINO ships plugins for; a missing one falls back, an unknown name is a typo.
KNOWN_FAMILIES = ("CPU", "GPU", "NPU")
VIRTUAL = ("AUTO", "HETERO", "MULTI", "BATCH")


def available_devices() -> list:
    import openvino as ov

    return list(ov.Core().available_devices)


def resolve_device(requested="GPU.0", fallback="CPU") -> str:
    """The device to use for `requested`: itself if present, else `fallback` with one line saying so."""
    name = str(requested).strip().upper()
    devices = available_devices()
    if name in devices or name.split(":")[0] in VIRTUAL:
        return name
    family = name.split(".")[0]
    if family == "GPU" and name == "GPU" and any(d.startswith("GPU") for d in devices):
        return "GPU"
    if family in KNOWN_FAMILIES:
        if fallback not in devices:
            fallback = devices[0]
        print(f"[phi3nb] {requested} is not available on this machine (devices: {', '.join(devices)}); "
              f"using {fallback} instead.")
        return fallback
    raise Phi3nbError(f"Unknown device {requested!r}. This machine has: {', '.join(devices)}; "
                      "use one of those, or AUTO to let OpenVINO choose.")


def device_widget(default="GPU.0"):
    """A Dropdown of this machine's devices (plus AUTO), preset to what `default` resolves to."""
    import ipywidgets as widgets

    options = available_devices() + ["AUTO"]
    return widgets.Dropdown(options=options, value=resolve_device(default), description="Device:")
