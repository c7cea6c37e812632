"""setup_env.py: its choice of torch index (PyTorch's CPU index when it answers, pip's default otherwise), and
what it does per platform (told at once where no wheels exist; a --test set-up that survives a failed llama.cpp build)."""

import http.server
import importlib.util
import platform
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "setup_env.py"


@pytest.fixture(scope="module")
def setup_env():
    spec = importlib.util.spec_from_file_location("setup_env", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def index():
    """A package index on loopback that lists torch."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/simple/torch/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


def test_the_cpu_index_is_used_when_it_answers(setup_env, index):
    assert setup_env.torch_args(index) == ["torch==2.13.0", "--index-url", index]


def test_an_unreachable_index_falls_back_to_pips_default_and_says_so(setup_env, index, capsys):
    gone = index.rsplit(":", 1)[0] + ":9/simple"  # port 9 (discard) is closed on loopback
    assert setup_env.torch_args(gone) == ["torch==2.13.0"]
    assert "out of reach" in capsys.readouterr().out


# The set-up per platform: platform.system/machine and every pip call faked (nothing is installed).
PYPROJECT = SCRIPT.parent / "pyproject.toml"


@pytest.fixture
def fake(setup_env, tmp_path, monkeypatch):
    """A project folder in tmp_path and a set-up whose steps only print what they would run (in order with its
    own lines); `fake.fail` holds words: a step whose command contains one exits 1."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.read_text(encoding="utf-8"), encoding="utf-8")

    class Fake:
        fail = ()
        calls = []

        def on(self, system, machine, mac="14.5"):
            monkeypatch.setattr(setup_env.platform, "system", lambda: system)
            monkeypatch.setattr(setup_env.platform, "machine", lambda: machine)
            monkeypatch.setattr(setup_env.platform, "mac_ver", lambda: (mac, ("", "", ""), ""))
            return self

        def main(self, *argv):
            return setup_env.main(list(argv), root=tmp_path)

    fake = Fake()
    fake.root = tmp_path

    def run(cmd, check=True, env=None):
        line = " ".join(str(c) for c in cmd)
        fake.calls.append(line)
        print(f"RUN {line}")
        code = 1 if any(word in line for word in fake.fail) else 0
        if check and code:
            raise SystemExit(f"[setup] this step failed: {line}")
        return code

    monkeypatch.setattr(setup_env, "run", run)
    monkeypatch.setattr(setup_env, "reachable", lambda index, timeout=5: True)
    monkeypatch.setattr(setup_env, "install_chromium", lambda: None)
    return fake


def lines(capsys) -> list:
    return capsys.readouterr().out.splitlines()


def test_the_first_line_names_the_python_and_the_platform(fake, capsys):
    assert fake.on("Linux", "x86_64").main() == 0
    out = lines(capsys)
    assert out[0].startswith("[setup] phi3nb set-up: Python ") and "on Linux x86_64" in out[0]
    assert platform.python_version() in out[0] and "on Linux x86_64" in out[-1]  # and the last, after pip's output
    assert fake.calls[-2:] == [f"{fake_python(fake)} -m pip check", f"{fake_python(fake)} -m phi3nb.cli prepare"]


def fake_python(fake):
    return next(c for c in fake.calls if c.endswith(" -m pip check")).split(" -m pip check")[0]


@pytest.mark.parametrize("flags", [(), ("--test",)])
def test_an_intel_mac_is_told_at_once_why_not_and_what_to_do_instead(fake, capsys, flags):
    assert fake.on("Darwin", "x86_64").main(*flags) == 1
    out = lines(capsys)
    assert fake.calls == []  # no venv, no pip: nothing for pip's resolver to fail on
    first = out[0]
    assert first.startswith("[setup] phi3nb cannot run on an Intel Mac")
    assert "no macOS x86-64 wheels" in first and "PyTorch" in first  # why
    assert "setup_env.py --remote-only" in first and "phi3nb chat --url" in first  # what instead
    assert "Linux VM" in first and "Apple Silicon" in first


@pytest.mark.parametrize("system, machine, mac, words", [
    ("Windows", "ARM64", "", "no Windows Arm64 wheels"),
    ("Darwin", "arm64", "13.6.1", "macOS 14 (Sonoma) or newer"),
])
def test_other_platforms_without_wheels_are_told_too(fake, capsys, system, machine, mac, words):
    assert fake.on(system, machine, mac).main("--test") == 1
    first = lines(capsys)[0]
    assert words in first and "--remote-only" in first and fake.calls == []


def test_an_apple_silicon_mac_on_macos_14_is_set_up(fake, capsys):
    assert fake.on("Darwin", "arm64", "14.5").main() == 0
    assert "on Darwin arm64" in lines(capsys)[0]


def test_remote_only_installs_what_chatting_on_a_server_needs_without_openvino_or_torch(fake, capsys):
    assert fake.on("Darwin", "x86_64").main("--remote-only") == 0
    out = lines(capsys)
    assert out[0].startswith("[setup] phi3nb set-up --remote-only: Python ")
    installs = [c for c in fake.calls if " -m pip install " in c]
    assert installs[0].endswith(f"--no-deps -e {fake.root}")
    everything = " ".join(installs)
    assert "openai>=" in everything and "transformers>=" in everything and "ipywidgets>=" in everything
    assert "torch" not in everything and "openvino" not in everything and "optimum" not in everything
    assert not any("phi3nb.cli prepare" in c or "pip check" in c for c in fake.calls)
    assert "phi3nb chat --url" in out[-2]


@pytest.mark.parametrize("system, machine, needs", [
    ("Windows", "AMD64", "MSVC"),
    ("Darwin", "arm64", "xcode-select --install"),
])
def test_a_test_set_up_on_windows_or_macos_names_the_build_tools_first_and_survives_a_failed_build(
        fake, capsys, system, machine, needs):
    fake.on(system, machine).fail = ("llama-cpp-python",)
    assert fake.main("--test") == 0
    out = lines(capsys)
    first_pip = next(i for i, line in enumerate(out) if line.startswith("RUN ") and " -m pip install " in line)
    assert any(needs in line for line in out[:first_pip])  # said before anything is installed
    tools = next(c for c in fake.calls if "pytest>=" in c)
    assert "nbval" in tools and "[docs]" in tools and "llama-cpp-python" not in tools
    assert fake.calls.index(tools) < next(i for i, c in enumerate(fake.calls) if "llama-cpp-python" in c)
    assert any("did not build" in line and "test_remote.py will skip" in line and needs in line for line in out)
    assert fake.calls[-1].endswith("-m phi3nb.cli prepare")  # the set-up went on to the end


def test_a_failed_llama_cpp_build_stops_a_linux_test_set_up(fake, capsys):
    fake.on("Linux", "x86_64").fail = ("llama-cpp-python",)
    with pytest.raises(SystemExit, match="llama-cpp-python"):
        fake.main("--test")
    assert not any("prepare" in c for c in fake.calls)


def test_the_lists_read_from_pyproject_are_tomls(setup_env):
    tomllib = pytest.importorskip("tomllib")
    text = PYPROJECT.read_text(encoding="utf-8")
    project = tomllib.loads(text)["project"]
    assert setup_env.pyproject_list(text, "dependencies") == project["dependencies"]
    assert setup_env.pyproject_list(text, "test") == project["optional-dependencies"]["test"]
    names = {setup_env.requirement_name(spec) for spec in project["dependencies"]}
    assert set(setup_env.REMOTE_ONLY) <= names  # --remote-only takes their versions from pyproject.toml


def test_without_llama_cpp_the_server_tests_skip_saying_why():
    """What a Windows or macOS set-up whose llama.cpp build failed leaves: tests/test_remote.py skips."""
    hide = ("import sys\n"
            "sys.modules['llama_cpp'] = None  # as if not installed: find_spec says None, import fails\n"
            "import pytest\n"
            "sys.exit(pytest.main(['-q', '-rs', '-p', 'no:cacheprovider', 'tests/test_remote.py', '-k', "
            "'not room_bench_only and not does_not_answer_in_time']))\n")
    done = subprocess.run([sys.executable, "-c", hide], cwd=SCRIPT.parent, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "llama.cpp's server (llama-cpp-python) is not installed" in done.stdout
    assert " skipped" in done.stdout and " passed" not in done.stdout and " failed" not in done.stdout


# The OS x Python workflow: the same set-up and test commands as .ci/run, on the Pythons phi3nb ran on.
WORKFLOW = SCRIPT.parent / ".github" / "workflows" / "ci.yml"
CI_RUN = SCRIPT.parent / ".ci" / "run"


def workflow_runs(job) -> list:
    return [step["run"] for step in job["steps"] if "run" in step]


def ci_run_commands() -> list:
    """.ci/run's commands, one per line (comments, `set` and `cd` left out)."""
    return [line for line in CI_RUN.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith(("#", "set ", "cd "))]


def test_the_workflows_linux_leg_runs_exactly_what_ci_run_runs():
    import yaml

    linux = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["linux"]
    assert linux["runs-on"].startswith("ubuntu")
    assert workflow_runs(linux) == ["bash .ci/run"]
    assert "bash setup.sh --test && .venv/bin/python -m pytest --nbval-lax" in ci_run_commands()


def test_the_windows_and_macos_legs_run_ci_runs_set_up_and_tests_through_setup_env():
    import yaml

    job = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["windows-macos"]
    matrix = job["strategy"]["matrix"]
    assert set(matrix["os"]) == {"windows-latest", "macos-14"}  # macos-14: Apple Silicon, which has the wheels
    bins = {leg["os"]: leg["bin"] for leg in matrix["include"]}
    assert bins == {"windows-latest": ".venv/Scripts", "macos-14": ".venv/bin"}
    assert 'setup_env.py "$@"' in (SCRIPT.parent / "setup.sh").read_text(encoding="utf-8")  # setup.sh is setup_env.py
    for os_name, bin_dir in bins.items():
        commands = [run.replace("${{ matrix.bin }}", bin_dir) for run in workflow_runs(job)]
        as_on_linux = [c.replace("python setup_env.py", "bash setup.sh").replace(bin_dir, ".venv/bin") for c in commands]
        assert " && ".join(as_on_linux) == ci_run_commands()[0], os_name


def test_the_workflow_and_requires_python_are_the_pythons_that_ran(setup_env):
    import yaml

    jobs = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]
    for job in jobs.values():
        assert tuple(job["strategy"]["matrix"]["python"]) == setup_env.TESTED_PYTHONS
    oldest = min(setup_env.TESTED_PYTHONS, key=lambda v: tuple(map(int, v.split("."))))
    assert f'requires-python = ">={oldest}"' in PYPROJECT.read_text(encoding="utf-8")
