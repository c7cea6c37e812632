"""Where phi3nb keeps downloaded and exported models, so every entry point finds the same ones."""

import os
from pathlib import Path


def cache_dir() -> Path:
    """`$PHI3NB_HOME`, else `~/.cache/phi3nb`: outside the repo so a fresh clone reuses it."""
    return Path(os.environ.get("PHI3NB_HOME", Path.home() / ".cache" / "phi3nb")).expanduser()
