"""`phi3nb bench`: load time, TTFT, time per token, memory and chat TTFT of optimum-intel,
openvino-genai and llama.cpp on the same model; the memory roofline; Phi-3-mini's per-layer
cost on each engine from random slices; and the perplexity each export costs.

Importing is cheap: everything heavy loads inside the functions, most of it in child processes.
"""

from .cli import add_arguments, run

__all__ = ["add_arguments", "run"]
