"""Every third-party package the product imports is declared in pyproject.toml's `dependencies`, so that
`pip install phi3nb` alone gives a working phi3nb and not one that works only beside what else is installed.

The product is phi3nb/ outside bench/ and standins/ (those measure and stand in; their extras are their own).
An import's top-level name is mapped to the distributions that provide it by importlib.metadata (the
`IPython` module comes from `ipython`, `markdown_it` from `markdown-it-py`).
"""

import ast
import importlib.metadata
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "phi3nb"
NOT_PRODUCT = ("bench", "standins")


def product_modules() -> list:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in NOT_PRODUCT)


def declared() -> set:
    """The canonical names of pyproject.toml's `dependencies` (not the extras: a user does not install those)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {canonicalize_name(Requirement(d).name) for d in project["dependencies"]}


def third_party_imports(path) -> list:
    """(line, top-level name) of every absolute import in `path` of something outside the standard library
    and phi3nb, at the top or inside a function (most of phi3nb imports its heavy libraries where used)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names
                  if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "phi3nb"]
    return found


def undeclared(paths, declared_names, providers) -> dict:
    """{"path:line": message} for each import whose top-level name no declared distribution provides."""
    problems = {}
    for path in paths:
        for line, name in third_party_imports(path):
            dists = {canonicalize_name(d) for d in providers.get(name, ())}
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name}:{line}"
            if not dists:
                problems[where] = f"imports {name}, which no installed distribution provides"
            elif not dists & declared_names:
                problems[where] = f"imports {name} (from {', '.join(sorted(dists))}), not in pyproject's dependencies"
    return problems


def installed_providers() -> dict:
    """{top-level module: [distributions]} as Python 3.11's packages_distributions() gives it: Python 3.10's
    reads only top_level.txt, which numpy's, openai's and other modern wheels no longer carry, so each
    distribution's file list is read too."""
    found = {name: list(dists) for name, dists in importlib.metadata.packages_distributions().items()}
    for dist in importlib.metadata.distributions():
        for file in dist.files or ():
            top = file.parts[0] if len(file.parts) > 1 else file.name.partition(".")[0]
            if top and not top.endswith((".dist-info", ".data")) and dist.metadata["Name"] not in found.get(top, []):
                found.setdefault(top, []).append(dist.metadata["Name"])
    return found


def test_the_checker_finds_an_undeclared_import_wherever_it_is(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os, json\nfrom . import sibling\nimport phi3nb.run\n\n"
                     "def f():\n    from filelock import FileLock\n    import numpy.linalg\n    import no_such_pkg\n")
    providers = {"filelock": ["filelock"], "numpy": ["numpy"]}
    assert undeclared([probe], {"numpy"}, providers) == {
        "probe.py:6": "imports filelock (from filelock), not in pyproject's dependencies",
        "probe.py:8": "imports no_such_pkg, which no installed distribution provides"}
    assert undeclared([probe], {"numpy", "filelock"}, {**providers, "no_such_pkg": ["No_Such.Pkg"]}) == {
        "probe.py:8": "imports no_such_pkg (from no-such-pkg), not in pyproject's dependencies"}


def test_every_package_the_product_imports_is_declared():
    modules = product_modules()
    assert len(modules) > 40 and any(third_party_imports(p) for p in modules)  # the walk sees the product
    problems = undeclared(modules, declared(), installed_providers())
    assert not problems, "add these to pyproject.toml's dependencies:\n" + "\n".join(
        f"  {where}: {what}" for where, what in sorted(problems.items()))
