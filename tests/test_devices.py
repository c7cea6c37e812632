import pytest

from phi3nb import Phi3nbError, available_devices, device_widget, resolve_device


def test_cpu_is_always_there():
    assert "CPU" in available_devices()


@pytest.mark.parametrize("asked", ["GPU.0", "GPU", "NPU", "gpu.1"])
def test_absent_accelerator_falls_back_with_one_line(asked, capsys):
    if asked.upper() in available_devices():
        pytest.skip(f"{asked} exists on this machine")
    assert resolve_device(asked) == "CPU"
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and asked in lines[0] and "using CPU" in lines[0]


def test_present_device_is_used_silently(capsys):
    assert resolve_device("cpu") == "CPU"
    assert resolve_device("AUTO") == "AUTO"
    assert capsys.readouterr().out == ""


def test_unknown_device_lists_this_machines_devices():
    with pytest.raises(Phi3nbError) as info:
        resolve_device("TPU")
    assert "CPU" in str(info.value) and "AUTO" in str(info.value)


def test_device_widget_offers_available_devices_preset_to_the_fallback():
    w = device_widget("GPU.0")
    assert "CPU" in w.options and "AUTO" in w.options
    assert w.value == resolve_device("GPU.0")
