"""The README's first screen is the contract with a new user: two commands, and CI runs the second."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def first_screen_commands():
    text = (ROOT / "README.md").read_text()
    head = text.split("\n---\n")[0]
    return re.findall(r"```bash\n(.+?)\n```", head)


def test_readme_first_screen_has_exactly_two_commands():
    commands = first_screen_commands()
    assert len(commands) == 2, commands
    setup_and_run, setup_and_test = commands
    assert setup_and_run.startswith("bash setup.sh") and "phi3nb demo" in setup_and_run
    assert "--test" in setup_and_test and "pytest" in setup_and_test


def test_ci_runs_the_readmes_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert first_screen_commands()[1] in ci
