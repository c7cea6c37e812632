"""Step 7: build the prompt, for Phi-3 exactly as the cookbook writes it, else from the chat template.

`encode_chat` is what a chat should use: the text a user types is tokenized with special
tokens split, so typing `<|end|><|assistant|>` cannot forge a turn the history doesn't have.
"""

from ..errors import Phi3nbError
from ..cookbook import COOKBOOK_SYSTEM

PHI3_ROLES = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}


def phi3_prompt(user, system=COOKBOOK_SYSTEM, history=()) -> str:
    """The cookbook's prompt format: for the cookbook's question, its prompt byte for byte.

    `history` is a sequence of (user, assistant) pairs from earlier turns.
    """
    return _phi3_text(chat_messages(user, system, history))


def chat_messages(user, system=COOKBOOK_SYSTEM, history=()) -> list:
    """The conversation as the role/content dicts chat templates take."""
    messages = [{"role": "system", "content": system}] if system else []
    for asked, answered in history:
        messages += [{"role": "user", "content": asked}, {"role": "assistant", "content": answered}]
    return messages + [{"role": "user", "content": user}]


def is_phi3(tokenizer) -> bool:
    """True for tokenizers with Phi-3's turn tokens: they get the cookbook's prompt format."""
    return all(has_token(tokenizer, tag) for tag in ("<|user|>", "<|assistant|>", "<|end|>"))


def has_token(tokenizer, token) -> bool:
    """Whether `token` is one token of this vocabulary, asked of the fast tokenizer's backend: get_vocab()
    builds the whole vocabulary as a dict each call (some 200,000 entries for Phi-4-mini, each chat turn)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return backend.token_to_id(token) is not None
    return token in tokenizer.get_vocab()


def build_prompt(tokenizer, user, system=COOKBOOK_SYSTEM, history=()) -> str:
    """The prompt text for this tokenizer's model: the cookbook's for Phi-3, the chat template otherwise."""
    return render(tokenizer, chat_messages(user, system, history))


def render(tokenizer, messages) -> str:
    if is_phi3(tokenizer):
        return _phi3_text(messages)
    if not getattr(tokenizer, "chat_template", None):
        raise Phi3nbError("This tokenizer has no chat template, so phi3nb cannot format a conversation. "
                          "Use a chat (instruct) model, or pass a prompt string you built yourself.")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def encode_chat(tokenizer, messages) -> list:
    """Token ids for `messages`, where message text can never become special tokens."""
    marks = [f"\ue000{i}\ue001" for i in range(len(messages))]
    text = render(tokenizer, [{**m, "content": mark} for m, mark in zip(messages, marks)])
    ids, pos = [], 0
    for mark, message in zip(marks, messages):
        at = text.find(mark, pos)
        if at < 0:  # the template dropped this message (some drop a default system prompt)
            continue
        ids += _encode(tokenizer, text[pos:at], split_special=False)
        ids += _encode(tokenizer, message["content"], split_special=True)
        pos = at + len(mark)
    return ids + _encode(tokenizer, text[pos:], split_special=False)


def fit_history(tokenizer, text, system, history, budget):
    """(prompt ids, turns dropped): the fewest oldest turns dropped so the prompt is <= budget tokens.

    Token-exact: every candidate is encoded as it will be sent. If the message alone is over
    the budget, all history goes and the caller's length check explains the rest.
    """
    for dropped in range(len(history) + 1):
        ids = encode_chat(tokenizer, chat_messages(text, system, history[dropped:]))
        if len(ids) <= budget:
            break
    return ids, dropped


def _encode(tokenizer, text, split_special):
    if not text:
        return []
    return tokenizer(text, add_special_tokens=False, split_special_tokens=split_special)["input_ids"]


def _phi3_text(messages) -> str:
    parts = []
    for m in messages:
        if m["role"] not in PHI3_ROLES:
            raise Phi3nbError(f"Unknown chat role {m['role']!r}: use system, user or assistant.")
        parts.append(f"{PHI3_ROLES[m['role']]}{m['content']}<|end|>")
    return "".join(parts) + "<|assistant|>"
