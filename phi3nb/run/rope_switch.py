"""Where a LongRoPE model switches its rotary factors, and why a chat on openvino_genai stops there.

Phi-3.5-mini, Phi-4-mini and Phi-3-mini-128k rotate queries and keys with `short_factor` while a
sequence is at most original_max_position_embeddings (4096) long and with `long_factor` beyond it.
The reference implementation (transformers' Phi3ForCausalLM.prepare_inputs_for_generation, as
Microsoft's own code and onnxruntime-genai do) drops the KV cache the first time a sequence passes
that length and prefills it again: past the switch every key is rotated with the long factors,
as if the whole sequence had been computed at once.

The exported graph picks the factors per inference step, from the largest position it is given.
openvino_genai's LLMPipeline keeps the keys it cached and never computes them again: a reply that
decodes across the switch keeps the short-factor keys of everything before it, and its prefix cache,
keyed by token ids alone, hands those keys to any later prompt that starts with the same tokens,
so sending the whole conversation again does not help either; neither does a pipeline that has seen
a long sequence serve a later short one right. There is no call that empties that cache, so a chat
with such a model stops at the switch, up to which every turn is computed as the reference computes
it. (OVModelForCausalLM's export, which phi3nb's runs, already writes the switch into
config.json as max_position_embeddings; an optimum-cli export or a pre-converted folder keeps the
full length, which a chat would otherwise run into.)
"""


def longrope_switch(config) -> int | None:
    """The length past which a model (its config.json as a dict) uses its long rotary factors; None
    for a model without LongRoPE."""
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    if (rope.get("rope_type") or rope.get("type")) != "longrope":
        return None
    switch = rope.get("original_max_position_embeddings") or config.get("original_max_position_embeddings")
    return int(switch) if switch else None


def chat_context(config) -> tuple:
    """(tokens a chat on openvino_genai may use, prompt and reply together; for a LongRoPE model, a line
    saying why it stops at the switch, else "")."""
    window = config.get("max_position_embeddings")
    switch = longrope_switch(config)
    if switch is None:
        return window, ""
    return min(window or switch, switch), (
        f"chats stop at {switch} tokens: there this model's LongRoPE switches to its long factors, and "
        "openvino_genai would keep the keys it cached with the short ones (phi3nb/run/rope_switch.py)")
