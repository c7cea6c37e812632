"""What every backend is asked to do: the same prompt, the same chat, the same token counts."""

SYSTEM = "You are a helpful AI assistant."
QUESTION = "Write a short story about a lighthouse keeper who finds a message in a bottle."
WARMUP = "Warm-up: count from one to ten."  # plain text: shares no prefix with the chat-formatted prompts
CHAT_TURNS = (
    "Hi! Can you introduce yourself?",
    "What is OpenVINO used for?",
    "How does int4 weight compression make a model faster?",
    "Give me three tips for writing clear Python code.",
    "Summarize our conversation in one sentence.",
)
CHAT_NEW_TOKENS = 24  # per turn: the reply joins the history, so each turn's prompt is longer
WARMUP_TOKENS = 8


def render(tokenizer, user, history=()) -> str:
    """The prompt text phi3nb itself would send: the cookbook's Phi-3 format, else the chat template."""
    from phi3nb.prompts import build_prompt

    return build_prompt(tokenizer, user, SYSTEM, history)
