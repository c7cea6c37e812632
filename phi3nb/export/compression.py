"""How an export's flags become nncf weight compression: the quantization config, and the calibration
data the data-aware methods (awq, scale_estimation) read, offline."""

import contextlib

# Calibration data for awq/scale_estimation (and data-aware ratio < 1): both work offline.
# "auto": the model's own generations (optimum-cli --dataset auto); CALIBRATION_TEXT: phi3nb/export/calibration.txt,
# plain prose and chat turns written for phi3nb (not the bench's evaluation paragraph), one sample per sentence.
CALIBRATION_TEXT = "phi3nb-calibration"  # export_presets.FAST_SE_EXPORT reads it
DATASETS = ("auto", CALIBRATION_TEXT)


def quantization_config(flags):
    """export_flags as optimum-intel's OVWeightQuantizationConfig (what optimum-cli builds from its flags)."""
    from optimum.intel import OVWeightQuantizationConfig

    bits = 4 if flags["weight_format"] == "int4" else 8
    extra = {}
    if flags.get("awq"):
        extra["quant_method"] = "awq"
    if flags.get("scale_estimation"):
        extra["scale_estimation"] = True
    if flags.get("dataset"):
        extra["dataset"] = calibration_samples() if flags["dataset"] == CALIBRATION_TEXT else flags["dataset"]
    if flags.get("num_samples"):
        extra["num_samples"] = flags["num_samples"]
    return OVWeightQuantizationConfig(bits=bits, sym=flags["sym"], group_size=flags["group_size"], ratio=flags["ratio"],
                                      **extra)


def calibration_samples() -> list:
    """phi3nb/export/calibration.txt as one sample per sentence (nncf's statistics count samples, not tokens)."""
    import re
    from importlib import resources

    text = resources.files(__package__).joinpath("calibration.txt").read_text(encoding="utf-8")
    sentences = re.split(r"(?<=[.?!:])\s+", text)
    return [s.strip() for s in sentences if len(s.split()) >= 4]


@contextlib.contextmanager
def seeded(flags):
    """dataset='auto' samples the model's generations: seed them, so a re-export gives the same weights
    (without touching the caller's random state)."""
    if flags.get("dataset") != "auto":
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        yield
