"""Code from a model's repository runs only when the user says so.

A model that transformers does not know points to .py files of its repository (`auto_map`);
loading it runs them. transformers refuses unless trust_remote_code=True, with a ValueError;
phi3nb says the same as a Phi3nbError that names the model and how to allow it.
"""

from ..errors import Phi3nbError

HOW_TO_ALLOW = ("trust_remote_code=True in Python, --trust-remote-code with `phi3nb export`, `phi3nb demo` or "
                "`phi3nb chat`, or PHI3NB_TRUST_REMOTE_CODE=1 for the notebook")


def remote_code_error(name) -> Phi3nbError:
    """The refusal: what would run, and how to allow it."""
    return Phi3nbError(
        f"{name} needs its own Python code: transformers does not know this model (or its tokenizer), and its "
        f"files point to .py files of the repository instead (auto_map). Loading it would run that code on this "
        f"machine, so phi3nb stopped before any of it ran. If you trust {name}, allow it: {HOW_TO_ALLOW}.")


def refuses_remote_code(error) -> bool:
    """True if `error` is transformers declining to run a repository's code without trust_remote_code=True."""
    return isinstance(error, ValueError) and "trust_remote_code=True" in str(error)
