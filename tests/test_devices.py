"""Device names as OpenVINO gives them on the machines attendees bring, faked through available_devices."""

import pytest

import phi3nb.run.devices as devices
from phi3nb import Phi3nbError, device_widget, resolve_device

LAPTOP = ["CPU", "GPU"]  # one Intel GPU: OpenVINO does not number it
TWO_GPUS = ["CPU", "GPU.0", "GPU.1"]
NPU = ["CPU", "NPU"]
CPU_ONLY = ["CPU"]


@pytest.fixture
def machine(monkeypatch):
    def use(names, full=None):
        monkeypatch.setattr(devices, "available_devices", lambda: list(names))
        monkeypatch.setattr(devices, "full_device_name", lambda d: (full or {}).get(d, ""))
    return use


def test_cpu_is_always_there():
    assert "CPU" in devices.available_devices()


@pytest.mark.parametrize("names, asked, expected", [
    (LAPTOP, "GPU.0", "GPU"), (LAPTOP, "gpu.0", "GPU"), (LAPTOP, "GPU", "GPU"), (LAPTOP, "cpu", "CPU"),
    (TWO_GPUS, "GPU.0", "GPU.0"), (TWO_GPUS, "GPU.1", "GPU.1"), (TWO_GPUS, "GPU", "GPU.0"), (TWO_GPUS, "gpu.1", "GPU.1"),
    (NPU, "npu", "NPU"), (NPU, "NPU.0", "NPU"),
    (CPU_ONLY, "AUTO", "AUTO"), (LAPTOP, "auto:gpu,cpu", "AUTO:GPU,CPU"),
])
def test_present_devices_are_used_silently(machine, capsys, names, asked, expected):
    machine(names)
    assert resolve_device(asked) == expected
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("names, asked", [
    (LAPTOP, "GPU.1"), (LAPTOP, "NPU"), (TWO_GPUS, "GPU.2"), (NPU, "GPU.0"), (NPU, "GPU"), (CPU_ONLY, "GPU.0"),
    (CPU_ONLY, "gpu"), (CPU_ONLY, "NPU"),
])
def test_absent_accelerator_falls_back_to_the_cpu_with_one_line(machine, capsys, names, asked):
    machine(names)
    assert resolve_device(asked) == "CPU"
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"[phi3nb] {asked} is not available on this machine (devices: {', '.join(names)}); "
                     "using CPU instead."]


def test_unknown_device_lists_this_machines_devices(machine):
    machine(TWO_GPUS)
    with pytest.raises(Phi3nbError) as info:
        resolve_device("TPU")
    assert "CPU, GPU.0, GPU.1" in str(info.value) and "AUTO" in str(info.value)


def test_device_widget_names_each_device_and_picks_the_lone_gpu_for_gpu0(machine):
    machine(LAPTOP, {"CPU": "Intel(R) Core(TM) Ultra 7 155H", "GPU": "Intel(R) Arc(TM) Graphics (iGPU)"})
    w = device_widget("GPU.0")
    assert w.value == "GPU"
    assert list(w.options) == [("CPU: Intel(R) Core(TM) Ultra 7 155H", "CPU"),
                               ("GPU: Intel(R) Arc(TM) Graphics (iGPU)", "GPU"), ("AUTO: let OpenVINO choose", "AUTO")]


def test_device_widget_on_a_cpu_only_machine_presets_the_cpu(machine, capsys):
    machine(CPU_ONLY)
    w = device_widget("GPU.0")
    assert w.value == "CPU" and [v for _, v in w.options] == ["CPU", "AUTO"]
    assert "GPU.0 is not available" in capsys.readouterr().out


def test_the_real_cpu_has_a_full_name():
    assert devices.full_device_name("CPU")
