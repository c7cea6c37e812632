"""The `phi3nb` command as a user runs it: demo on the embedded model, export, terminal chat."""

import json
import shlex
import re
import subprocess
import sys

import pytest

from phi3nb.cli import main, obtain_model
from phi3nb.export.folder.swap import MANIFEST
from phi3nb.export.source_config import GroupSizeWarning
from quality import repeated_ngram


def test_demo_prints_a_coherent_streamed_answer_with_timings(embedded_dir):
    run = subprocess.run([sys.executable, "-m", "phi3nb.cli", "demo", "--max-new-tokens", "160"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    from phi3nb import available_devices

    if "GPU.0" not in available_devices():
        assert out.count("GPU.0 is not available on this machine") == 1
    answer = out.split("Answer:\n", 1)[1].split("\n\n[phi3nb] load", 1)[0]
    assert len(re.findall(r"[A-Za-z']+", answer)) >= 20, answer
    assert repeated_ngram(answer) is None, answer
    assert re.search(r"load [\d.]+ s \| \d+ tokens · [\d.]+ tokens/s · first token [\d.]+ s", out)


def test_demo_takes_each_family_member_from_a_local_folder_and_sends_its_own_prompt(member, member_ov, monkeypatch,
                                                                                     capsys):
    """`phi3nb demo --model-id FOLDER` on each stand-in: no export, and the prompt printed and the token ids sent
    are that model's. Phi-3 and Phi-3.5: the cookbook's prompt byte for byte (not their chat template's, which
    puts a newline after each tag). Phi-4-mini: what its published chat template renders (no newline after the
    tags, as tiny_phi_family.PHI4_CHAT_TEMPLATE copies it from the model's tokenizer_config.json), in its own
    ids (<|system|> 200022, <|end|> 200020, <|user|> 200021, <|assistant|> 200019)."""
    import phi3nb.run.loading as loading
    from phi3nb import COOKBOOK_PROMPT
    from phi3nb.cookbook import COOKBOOK_QUESTION, COOKBOOK_SYSTEM
    from tiny_phi_family import PHI4_CHAT_TEMPLATE

    name, entry = member
    sent, real_load = [], loading.load_model

    def load_model(*a, **kw):  # the demo's model, recording the ids each generate() is given
        model = real_load(*a, **kw)
        real_generate = model.generate
        model.generate = lambda **kwargs: sent.append(kwargs["input_ids"][0].tolist()) or real_generate(**kwargs)
        return model

    monkeypatch.setattr(loading, "load_model", load_model)
    assert main(["demo", "--model-id", str(member_ov), "--device", "CPU", "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out
    assert f"{member_ov} is already an OpenVINO model" in out
    assert re.search(r"load [\d.]+ s \| \d+ tokens · [\d.]+ tokens/s · first token [\d.]+ s", out)
    printed = out.split("Prompt:\n", 1)[1].split("\n\nAnswer:", 1)[0]

    tok = loading.load_tokenizer(member_ov)
    messages = [{"role": "system", "content": COOKBOOK_SYSTEM}, {"role": "user", "content": COOKBOOK_QUESTION}]
    if name == "phi-4-mini":
        assert tok.chat_template == PHI4_CHAT_TEMPLATE  # the export kept the published template
        assert printed == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert printed == ("<|system|>You are a helpful AI assistant.<|end|>"
                           "<|user|>can you introduce yourself?<|end|><|assistant|>")
    else:
        assert printed == COOKBOOK_PROMPT
        assert "<|system|>\n" in tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    tags = entry.specials  # the family table's ids, from each model's published tokenizer
    words = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731  (plain text, no tags)
    assert sent == [[tags["<|system|>"], *words(COOKBOOK_SYSTEM), tags["<|end|>"],
                     tags["<|user|>"], *words(COOKBOOK_QUESTION), tags["<|end|>"], tags["<|assistant|>"]]]
    if name == "phi-4-mini":
        assert (tags["<|end|>"], tags["<|assistant|>"]) == (200020, 200019)
        assert not set(sent[0]) & {32000, 32001, 32006, 32007, 32010}  # no Phi-3 id anywhere


def test_export_command_runs_the_cookbook_flags(tiny_phi3_hf, tmp_path, capsys):
    out = tmp_path / "int4"
    assert main(["export", str(tiny_phi3_hf), str(out)]) == 0
    printed = capsys.readouterr().out
    assert "--weight-format int4 --group-size 128 --ratio 0.6 --sym" in printed
    assert json.loads((out / MANIFEST).read_text())["flags"]["group_size"] == 128


def test_bad_input_exits_2_with_the_message(tmp_path, capsys):
    assert main(["chat", str(tmp_path / "missing")]) == 2
    assert "No model folder" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["genai", "optimum"])
def test_terminal_chat_keeps_history_until_ctrl_d(member_ov, monkeypatch, capsys, backend, typed):
    seen = []
    import phi3nb.chat.turn as chat

    real = chat.generate_answer
    monkeypatch.setattr(chat, "generate_answer", lambda m, t, ids, **kw: seen.append(list(ids)) or real(m, t, ids, **kw))
    typed("hello", "and again")
    assert main(["chat", str(member_ov), "--max-new-tokens", "4", "--backend", backend]) == 0
    assert len(seen) == 2 and len(seen[1]) > len(seen[0])  # the second turn carries the first
    assert seen[1][: len(seen[0])] == seen[0]
    assert "Ctrl-D" in capsys.readouterr().out


def test_export_fast_preset_and_overrides(tiny_phi3_hf, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("phi3nb.export.convert.run_export", lambda s, t, flags, *a: (t / "f").write_text("x"))
    assert main(["export", str(tiny_phi3_hf), str(tmp_path / "fast"), "--preset", "fast"]) == 0
    assert json.loads((tmp_path / "fast" / MANIFEST).read_text())["flags"] == {
        "weight_format": "int4", "group_size": 128, "ratio": 1.0, "sym": True}
    assert "--ratio 1.0 --sym" in capsys.readouterr().out
    assert main(["export", str(tiny_phi3_hf), str(tmp_path / "r8"), "--preset", "fast", "--ratio", "0.8"]) == 0
    assert json.loads((tmp_path / "r8" / MANIFEST).read_text())["flags"]["ratio"] == 0.8


def test_export_fast_se_preset_records_scale_estimation(tiny_phi3_hf, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("phi3nb.export.convert.run_export", lambda s, t, flags, *a: (t / "f").write_text("x"))
    assert main(["export", str(tiny_phi3_hf), str(tmp_path / "se"), "--preset", "fast-se"]) == 0
    flags = json.loads((tmp_path / "se" / MANIFEST).read_text())["flags"]
    assert flags["scale_estimation"] is True and flags["dataset"] == "phi3nb-calibration" and flags["ratio"] == 1.0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("# no optimum-cli equivalent") and "Same as" not in out


def printed_command(printed):
    """The arguments of the one optimum-cli line in `printed`."""
    lines = [line[line.index("optimum-cli"):] for line in printed.splitlines() if "optimum-cli export" in line]
    assert len(lines) == 1, printed
    return shlex.split(lines[0])


def assert_is_what_ran(args, out):
    """The printed line says what the manifest of the export in `out` records, flag by flag."""
    done = json.loads((out / MANIFEST).read_text())
    flags = done["flags"]
    value = lambda flag: args[args.index(flag) + 1] if flag in args else None  # noqa: E731
    assert args[:3] == ["optimum-cli", "export", "openvino"] and args[-1] == str(out), args
    assert value("--model") == done["source"] and value("--weight-format") == flags["weight_format"], args
    if flags["weight_format"] == "int4":
        assert (int(value("--group-size")), float(value("--ratio"))) == (flags["group_size"], flags["ratio"]), args
    else:
        assert value("--group-size") is None and value("--ratio") is None, args
    assert ("--trust-remote-code" in args) is done["trust_remote_code"], args


@pytest.mark.parametrize("extra", [[], ["--trust-remote-code"]])
def test_export_prints_the_line_of_the_export_that_ran(tiny_phi3_hf, tmp_path, monkeypatch, capsys, extra):
    """--group-size 96 does not fit the tiny Phi-3, so 64 ran; --trust-remote-code shows only when passed."""
    monkeypatch.setattr("phi3nb.export.convert.run_export", lambda s, t, flags, *a: (t / "f").write_text("x"))
    out = tmp_path / "int4"
    with pytest.warns(GroupSizeWarning, match="using 64"):
        assert main(["export", str(tiny_phi3_hf), str(out), "--group-size", "96", *extra]) == 0
    printed = capsys.readouterr().out
    assert any(line.startswith("Same as: optimum-cli") for line in printed.splitlines()), printed
    args = printed_command(printed)
    assert_is_what_ran(args, out)
    assert args[args.index("--group-size") + 1] == "64" and ("--trust-remote-code" in args) is bool(extra)


@pytest.mark.parametrize("trust", [False, True])
def test_demos_step1_prints_the_line_of_its_own_export(tiny_phi3_hf, tmp_path, monkeypatch, capsys, trust):
    monkeypatch.setattr("phi3nb.export.convert.run_export", lambda s, t, flags, *a: (t / "f").write_text("x"))
    consent = {"trust_remote_code": True} if trust else {}  # the default is no trust
    out = obtain_model(str(tiny_phi3_hf), tmp_path / "int8", "int8", **consent)
    args = printed_command(capsys.readouterr().out)
    assert_is_what_ran(args, out)
    assert args[args.index("--weight-format") + 1] == "int8"


def test_demos_step1_asks_the_hub_once_whether_a_model_is_openvino(tmp_path, monkeypatch):
    import phi3nb.export.preconverted as preconverted
    from phi3nb import Phi3nbError

    asked = []
    monkeypatch.setattr(preconverted, "_hub_has_openvino", lambda repo: asked.append(repo) or False)
    monkeypatch.setattr("phi3nb.export.convert.load_source_config", lambda *a: (_ for _ in ()).throw(Phi3nbError("offline")))
    with pytest.raises(Phi3nbError, match="offline"):
        obtain_model("org/not-openvino", tmp_path / "out")
    assert asked == ["org/not-openvino"]


def test_demos_figures_count_the_tokens_generated_not_a_re_encoding(tiny_phi3_ov, tmp_path, monkeypatch, capsys):
    """The tiny Phi-3's random weights write token ids that do not come back from encoding their text."""
    import phi3nb.run.loading as loading

    generated = []  # how many tokens each generate() call added to its input
    real_load = loading.load_model

    def load_model(*a, **kw):
        model = real_load(*a, **kw)
        real_generate = model.generate

        def generate(**kwargs):
            out = real_generate(**kwargs)
            generated.append(out.shape[1] - kwargs["input_ids"].shape[1])
            return out

        model.generate = generate
        return model

    monkeypatch.setattr(loading, "load_model", load_model)
    assert main(["demo", "--model-id", str(tiny_phi3_ov), "--model-dir", str(tmp_path / "out"), "--device", "CPU",
                 "--max-new-tokens", "12"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\| (\d+) tokens? ·", out).group(1) == str(generated[0]) and len(generated) == 1, out


def test_ctrl_c_stops_the_reply_and_keeps_the_chat(member_ov, monkeypatch, capsys, typed):
    """Ctrl-C during a reply stops that reply, as the box's Stop does; the program and its history stay (it used to
    exit, and the conversation was gone). Ctrl-C is KeyboardInterrupt in the main thread: _thread.interrupt_main."""
    import _thread
    import threading

    import phi3nb.chat.turn as chat

    real, seen, after = chat.generate_answer, [], []

    def generate(m, t, ids, *, streamer, stop_event, **kw):
        # in the main thread, blocked in genai's C++, a Ctrl-C is seen only once the reply has ended
        assert threading.current_thread() is not threading.main_thread(), "the reply runs in the main thread"
        seen.append(list(ids))
        show = streamer.on_text

        def piece(text):
            show(text)
            if len(seen) == 1 and not stop_event.is_set():
                _thread.interrupt_main()  # Ctrl-C at the first word
                assert stop_event.wait(30), "Ctrl-C did not stop the reply"
            elif stop_event.is_set():
                after.append(text)

        streamer.on_text = piece
        return real(m, t, ids, streamer=streamer, stop_event=stop_event, **kw)

    monkeypatch.setattr(chat, "generate_answer", generate)
    typed("tell me a long story", "and again")
    assert main(["chat", str(member_ov), "--max-new-tokens", "200", "--backend", "genai"]) == 0
    out = capsys.readouterr().out
    assert "[phi3nb] stopping the reply (Ctrl-C again to leave)" in out and "stopped" in out
    assert len(after) <= 1 and len(seen) == 2 and seen[1][: len(seen[0])] == seen[0]  # the stopped turn is kept


def test_ctrl_c_while_the_model_reads_says_so_and_twice_leaves():
    """Before the first word nothing interrupts the model: the line says so; a second Ctrl-C leaves."""
    import _thread
    import threading

    from phi3nb.cli import stoppable

    def reply(stop):
        _thread.interrupt_main()
        assert stop.wait(30)
        _thread.interrupt_main()
        threading.Event().wait(30)  # still reading; only the second Ctrl-C ends this

    with pytest.raises(KeyboardInterrupt):
        stoppable(reply, reading=lambda: True)
