"""Cheap checks that a chat answer is usable text, shared by the model and demo tests."""

import re


def repeated_ngram(text: str, n: int = 8, times: int = 3) -> "str | None":
    """The first run of `n` words that occurs `times` times in `text`, else None.

    Small or heavily quantized models under greedy decoding fall into loops; a long
    phrase that keeps coming back is the symptom, while ordinary prose almost never
    repeats 8 words in a row three times.
    """
    words = re.findall(r"\w+", text.lower())
    seen = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i : i + n])
        seen[gram] = seen.get(gram, 0) + 1
        if seen[gram] >= times:
            return " ".join(gram)
    return None
