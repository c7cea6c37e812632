"""`phi3nb export --preset NAME`: the cookbook's flags and phi3nb's two faster all-int4 exports.

Their speed at full size, per CPU: docs/how-fast.md (from phi3nb/measurements/); their perplexity on the
embedded model: docs/how-fast.md too.
"""

from .compression import CALIBRATION_TEXT
from ..cookbook import COOKBOOK_EXPORT

# Beside the cookbook's flags: the fastest configuration `phi3nb bench` found on a Phi-3-mini-shaped
# slice: every decoder layer int4 (ratio 1.0), decoded with the f32 hint (cpu_config.F32_HINT), which on
# bf16-capable CPUs turns on OpenVINO's dynamic int8 activations for int4 weights. It costs perplexity (the
# embedded model's, vs the cookbook's flags); the same format with scale estimation on
# phi3nb/export/calibration.txt (FAST_SE_EXPORT) wins most of it back for a slower export.
FAST_EXPORT = {"weight_format": "int4", "group_size": 128, "ratio": 1.0, "sym": True}
# FAST_EXPORT's format with scale estimation on phi3nb/export/calibration.txt (offline): the embedded model's
# perplexity within 5 % of the cookbook's flags, the fast preset's speed, a slower export (bench preset fast-se).
FAST_SE_EXPORT = {**FAST_EXPORT, "scale_estimation": True, "dataset": CALIBRATION_TEXT}
PRESETS = {"cookbook": COOKBOOK_EXPORT, "fast": FAST_EXPORT, "fast-se": FAST_SE_EXPORT}
