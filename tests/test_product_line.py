"""The product (phi3nb/ outside bench/ and standins/) never imports the bench or the stand-ins, nor do the tests'
shared fixtures and the docs: what only measures imports the product, never the reverse; and the bench's own
modules import each other without a loop."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "phi3nb"
NOT_PRODUCT = ("bench", "standins")
PRODUCT = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in NOT_PRODUCT)
# The tests' shared fixtures (every module under tests/ that is not a test) and the docs' scripts.
FIXTURES_AND_DOCS = sorted([p for p in (ROOT / "tests").glob("*.py") if not p.name.startswith("test_")]
                           + list((ROOT / "docs").glob("*.py")) + [ROOT / "conftest.py"])


def dotted(path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported(path) -> list:
    """(line, absolute module name) of every import in `path`, at the top or inside a function."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def bench_imports(path) -> list:
    """(line, text) of every import of phi3nb.bench in `path`, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names = [base] if node.module else [base + a.name for a in node.names]  # from . import bench
        else:
            continue
        if any(n == "phi3nb.bench" or n.startswith("phi3nb.bench.") or n in (".bench", "..bench")
               or n.startswith(".bench.") for n in names):
            found.append((node.lineno, ast.unparse(node)))
    return found


def test_the_finder_sees_every_form_of_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import phi3nb.bench.stats\nfrom . import bench\n\ndef f():\n    from .bench.tune import x\n"
                     "    from phi3nb.bench import run\n\nfrom .benchmark import y\nimport phi3nb.benches\n")
    assert [line for line, _ in bench_imports(probe)] == [1, 2, 5, 6]


def test_no_product_module_imports_the_bench():
    assert len(PRODUCT) > 40  # the finder sees the product's folders
    found = {str(p.relative_to(PACKAGE)): hits for p in PRODUCT if (hits := bench_imports(p))}
    assert not found, f"product modules importing phi3nb.bench: {found}"


def test_no_product_module_imports_the_stand_ins():
    found = {str(p.relative_to(PACKAGE)): [(n, m) for n, m in imported(p) if m.startswith("phi3nb.standins")]
             for p in PRODUCT}
    assert not {k: v for k, v in found.items() if v}


def test_the_tests_fixtures_and_the_docs_do_not_import_the_bench():
    assert ROOT / "tests" / "tiny_phi3.py" in FIXTURES_AND_DOCS
    found = {p.name: hits for p in FIXTURES_AND_DOCS if (hits := bench_imports(p))}
    assert not found, f"fixtures or docs importing phi3nb.bench: {found}"


def test_the_bench_has_no_import_loop():
    bench = sorted((PACKAGE / "bench").rglob("*.py"))
    modules = {dotted(p): p for p in bench}
    graph = {name: {m.rpartition(".")[0] if m not in modules else m for _, m in imported(path)} & set(modules)
             for name, path in modules.items()}
    graph = {name: {m for m in deps if m != name and not name.startswith(m + ".")} for name, deps in graph.items()}

    def loop_from(start):
        stack, seen = [(start, [start])], set()
        while stack:
            node, route = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return route + [start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, route + [nxt]))
        return None

    assert len(modules) > 20
    loops = [r for r in map(loop_from, modules) if r]
    assert not loops, f"bench modules that import each other in a loop: {loops[0]}"


def test_the_product_loads_no_bench_module():
    modules = [dotted(p) for p in PRODUCT if p.stem != "__main__"]
    code = (f"import sys, phi3nb\nfor name in {modules!r}:\n    __import__(name)\n"
            "import phi3nb.cli\nphi3nb.cli.parser()\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('phi3nb.bench'))\n"
            "assert not loaded, loaded\nprint(len(loaded), 'bench modules;', len(sys.modules), 'modules')\n")
    path = os.pathsep.join(filter(None, (str(PACKAGE.parent), os.environ.get("PYTHONPATH"))))  # this tree's phi3nb
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("0 bench modules;"), done.stdout


def test_phi3nb_bench_runs_the_bench_with_its_options_and_exit_code(tmp_path, capfd):
    from phi3nb.cli import main

    argv = ["--model-dir", str(tmp_path), "--backends", "genai,vllm", "--skip-slice", "--skip-perplexity"]
    assert main(["bench", *argv]) == 2
    err = capfd.readouterr().err
    assert err.startswith("phi3nb: ") and "vllm" in err and "Traceback" not in err, err
    assert main(["bench", "--help"]) == 0
    assert "--full-size" in capfd.readouterr().out
    with pytest.raises(SystemExit):
        main(["tune", str(tmp_path), "--full-size"])  # another command's parser still refuses the bench's options
    assert "unrecognized arguments: --full-size" in capfd.readouterr().err
