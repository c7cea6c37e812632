"""The CPU config under which a greedy answer is computed the same way on every x86 CPU.

OpenVINO picks the arithmetic from the CPU: bf16 where it has AVX-512 BF16 or AMX, f32 elsewhere, and
with f32, int8 activations (dynamic quantization) only where it has VNNI. Tests that read the words a
model writes pin both, so the words do not depend on the machine (only the kernels' summation order
still does, which flips a greedy choice only at a near-tie).
"""

from phi3nb.run.cpu_config import F32_HINT

SAME_WORDS = {**F32_HINT, "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0}
