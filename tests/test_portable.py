"""The product runs where attendees' laptops do (Windows, macOS, Linux): the modules that decide things about
processes, folders and the CPU use psutil, pathlib and OpenVINO, not POSIX-only calls."""

import ast
from pathlib import Path

import pytest

import phi3nb

ROOT = Path(phi3nb.__file__).parent
CHECKED = ["export/folder/lock.py", "export/folder/swap.py", "export/folder/model_dir.py", "run/cpu.py"]
# os.kill(pid, 0) is Ctrl-C on Windows; /proc is Linux's; a shell-out needs its tool on the PATH.
POSIX_MODULES = {"subprocess", "fcntl", "resource", "pwd", "grp", "termios"}
POSIX_CALLS = {"kill", "killpg", "system", "popen", "getuid", "geteuid", "uname", "fork"}


def posix_only(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (f"import {a.name}" for a in node.names if a.name.split(".")[0] in POSIX_MODULES)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in POSIX_MODULES:
            yield f"from {node.module} import ..."
        elif (isinstance(node, ast.Attribute) and node.attr in POSIX_CALLS and isinstance(node.value, ast.Name)
              and node.value.id == "os"):
            yield f"os.{node.attr}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("/proc"):
            yield repr(node.value)
        elif isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.Constant) and str(v.value).startswith("/proc")
                                                     for v in node.values[:1]):
            yield "an f-string path under /proc"


@pytest.mark.parametrize("module", CHECKED)
def test_no_posix_only_calls(module):
    found = list(posix_only(ast.parse((ROOT / module).read_text())))
    assert found == [], f"{module} uses POSIX-only calls: {found}"
