"""The product (phi3nb/ outside phi3nb/bench/) never imports the bench: what only measures imports the
product, never the reverse."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "phi3nb"
PRODUCT = sorted(p for p in PACKAGE.glob("*.py"))


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
    found = {p.name: hits for p in PRODUCT if (hits := bench_imports(p))}
    assert not found, f"product modules importing phi3nb.bench: {found}"


def test_the_product_loads_no_bench_module():
    modules = [f"phi3nb.{p.stem}" for p in PRODUCT if p.stem not in ("__init__", "__main__")]
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
