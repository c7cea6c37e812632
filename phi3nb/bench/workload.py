"""What every backend is asked to do: the same prompt, the same chat, the same token counts.

The one-reply decode and its warm-up are phi3nb tune's (phi3nb/speed/timing.py: QUESTION, WARMUP).
"""

from phi3nb.cookbook import COOKBOOK_SYSTEM as SYSTEM

CHAT_TURNS = (
    "Hi! Can you introduce yourself?",
    "What is OpenVINO used for?",
    "How does int4 weight compression make a model faster?",
    "Give me three tips for writing clear Python code.",
    "Summarize our conversation in one sentence.",
)
CHAT_NEW_TOKENS = 24  # per turn: the reply joins the history, so each turn's prompt is longer
PREFILL_LENGTHS = (1000, 3000)  # fresh prompts (no cache to reuse) of this many tokens: batched prefill


def render(tokenizer, user, history=()) -> str:
    """The prompt text phi3nb itself would send: the cookbook's Phi-3 format, else the chat template."""
    from phi3nb.run.prompts import build_prompt

    return build_prompt(tokenizer, user, SYSTEM, history)


def long_prompt_ids(tokenizer, n, lead=None) -> list:
    """Exactly `n` token ids of plain English: the bench's paragraph, repeated, after a line that starts
    with `n` (or `lead`), so prompts of two lengths (or leads) share no prefix that a cache could reuse."""
    from .perplexity import paragraph

    ids = tokenizer(lead or f"{n} tokens of a text to read.\n", add_special_tokens=False)["input_ids"]
    block = tokenizer(paragraph() + "\n\n", add_special_tokens=False)["input_ids"]
    return (ids + block * (n // len(block) + 1))[:n]
