"""`phi3nb bench --full-size`: the stand-in's config and tokens, the memory and disk watchers, and the whole run's
mechanics on a 2-layer model of tiny widths (the exact widths would take minutes to export here); no speed is
asserted."""

import argparse
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from deadline import wait_for

TINY = dict(hidden_size=256, intermediate_size=512, num_attention_heads=4, num_key_value_heads=4)

# microsoft/Phi-3-mini-4k-instruct's config.json as the hub serves it (a copy is vendored in NVIDIA/TensorRT-LLM's
# tests/unittest/_torch/modeling/test_modeling_phi3.py), less _name_or_path, auto_map and transformers_version.
REAL_CONFIG = {
    "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "embd_pdrop": 0.0,
    "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072, "initializer_range": 0.02,
    "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "phi3", "num_attention_heads": 32,
    "num_hidden_layers": 32, "num_key_value_heads": 32, "original_max_position_embeddings": 4096,
    "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
    "sliding_window": 2047, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
    "attention_bias": False, "vocab_size": 32064,
}


def test_the_stand_in_is_phi3_mini_4k_instruct_but_for_its_depth(tmp_path):
    """Exact widths, 2 layers: config, tensor shapes and dtype, parameter count, Phi-3's tokens; and writing it
    grows the writer's memory by less than the model's size (it is written layer by layer)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, Phi3Config, Phi3ForCausalLM

    from phi3nb.standins.phi3_random import parameter_count, tensor_shapes, phi3_config
    from phi3nb.bench.memwatch import tree_bytes
    from phi3nb.cookbook import PHI3_EOS_IDS

    out = tmp_path / "standin-2l"
    code = ("import json, sys, torch, safetensors.torch, transformers, tokenizers\n"
            "from phi3nb.bench.memwatch import MemorySampler, read_memory\n"
            "from phi3nb.standins.phi3_random import write_random_phi3\n"
            "base = read_memory()['rss']\n"
            "sampler = MemorySampler(interval=0.01, uss_every=0).start()\n"
            "write_random_phi3(sys.argv[1], 2)\n"
            "print(json.dumps({'base': base, 'hwm': sampler.stop()['hwm_mb'] * 1e6}))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, check=True)
    mem = json.loads(proc.stdout.strip().splitlines()[-1])
    written = tree_bytes(out)
    assert mem["hwm"] - mem["base"] < 0.75 * written, (mem, written)  # the whole model at once needs >= 1x

    loaded = {k: v for k, v in AutoConfig.from_pretrained(out).to_dict().items() if k != "_name_or_path"}
    real = {k: v for k, v in Phi3Config.from_dict({**REAL_CONFIG, "num_hidden_layers": 2}).to_dict().items()
            if k != "_name_or_path"}
    assert loaded == real
    assert {k: v for k, v in json.loads((out / "config.json").read_text()).items() if k != "num_hidden_layers"} == \
        {k: v for k, v in REAL_CONFIG.items() if k != "num_hidden_layers"}

    with torch.device("meta"):
        hf = Phi3ForCausalLM(Phi3Config.from_dict({**REAL_CONFIG, "num_hidden_layers": 2}))
    expected = {name: tuple(t.shape) for name, t in hf.state_dict().items()}
    headers = {}
    for f in out.glob("*.safetensors"):
        raw = f.read_bytes()
        header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
        headers.update({k: v for k, v in header.items() if k != "__metadata__"})
    assert {k: tuple(v["shape"]) for k, v in headers.items()} == expected
    assert {v["dtype"] for v in headers.values()} == {"BF16"}
    assert parameter_count(out) == sum(math.prod(s) for s in expected.values())
    assert sum(math.prod(s) for _, s in tensor_shapes(phi3_config(32))) == 3_821_079_552  # the real model's

    tok = AutoTokenizer.from_pretrained(out)
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<s>", "<|endoftext|>", "<|assistant|>", "<|system|>",
                                                      "<|end|>", "<|user|>")}
    assert ids == {"<s>": 1, "<|endoftext|>": 32000, "<|assistant|>": 32001, "<|system|>": 32006, "<|end|>": 32007,
                   "<|user|>": 32010}
    text = tok.apply_chat_template([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n"
    assert tuple(json.loads((out / "generation_config.json").read_text())["eos_token_id"]) == PHI3_EOS_IDS


_ALLOCATOR = """
import mmap, sys
anon = b"\\x01" * int(sys.argv[1])                 # anonymous, every page written
with open(sys.argv[2], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
touched = sum(m[i] for i in range(0, len(m), 4096))  # file-backed, every page read
print("ready", flush=True)
sys.stdin.readline()
"""


def test_the_memory_sampler_tells_anonymous_from_file_backed(tmp_path):
    from phi3nb.bench.memwatch import MemorySampler

    anon, mapped = 200_000_000, 300_000_000
    data = tmp_path / "weights.bin"
    with open(data, "wb") as f:
        for _ in range(mapped // 10_000_000):
            f.write(b"\1" * 10_000_000)
    child = subprocess.Popen([sys.executable, "-c", _ALLOCATOR, str(anon), str(data)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    sampler = MemorySampler(child.pid, interval=0.02).start()
    try:
        assert child.stdout.readline().strip() == "ready"
        seen = sampler.samples
        wait_for(lambda: sampler.samples >= seen + 3, "samples after the child allocated")
    finally:
        child.communicate("go\n", timeout=60)
    peaks = sampler.stop()["all"]
    assert anon / 1e6 <= peaks["anon_peak_mb"] < (anon + 100e6) / 1e6, peaks  # the file is not counted as anon
    assert mapped / 1e6 <= peaks["file_peak_mb"] < (mapped + 100e6) / 1e6, peaks
    assert peaks["rss_mb"] >= (anon + mapped) / 1e6
    assert peaks["rss_anon_mb"] + peaks["rss_file_mb"] == pytest.approx(peaks["rss_mb"], abs=1)  # Linux: shmem in file


def test_the_disk_watcher_sees_a_partial_folder_that_is_gone_at_the_end(tmp_path):
    from phi3nb.bench.memwatch import DiskWatcher

    (tmp_path / "earlier.bin").write_bytes(b"\1" * 1_000_000)  # there before: not counted
    watcher = DiskWatcher([tmp_path], interval=0.01).start()
    partial = tmp_path / ".export.partial"
    partial.mkdir()
    (partial / "model.bin").write_bytes(b"\1" * 2_000_000)
    (partial / "temporary.bin").write_bytes(b"\1" * 3_000_000)
    seen = watcher.samples
    wait_for(lambda: watcher.samples >= seen + 2, "samples of the partial folder")
    (partial / "temporary.bin").unlink()
    partial.rename(tmp_path / "export")
    used = watcher.stop()
    assert 5.0 <= used["peak_added_mb"] < 5.5, used
    assert 2.0 <= used["end_added_mb"] < 2.5, used


def test_the_gguf_names_phi3s_special_tokens_and_refuses_a_sentencepiece_vocabulary(tmp_path):
    import shutil

    from gguf import GGUFReader

    from phi3nb.bench.gguf_writer import write_phi3_gguf
    from phi3nb.standins.phi3_random import write_random_phi3
    from phi3nb.errors import Phi3nbError

    hf = write_random_phi3(tmp_path / "hf", 1, TINY)
    reader = GGUFReader(write_phi3_gguf(hf, tmp_path / "f16.gguf"))
    field = reader.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(field.parts[i]).decode() for i in field.data]
    assert [tokens[i] for i in (32000, 32001, 32007, 32010)] == ["<|endoftext|>", "<|assistant|>", "<|end|>",
                                                                 "<|user|>"]
    spm = tmp_path / "spm"
    shutil.copytree(hf, spm)
    tok = json.loads((spm / "tokenizer.json").read_text())
    tok["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    (spm / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(Phi3nbError, match="--gguf"):
        write_phi3_gguf(spm, tmp_path / "spm.gguf")


def _args(*argv):
    from phi3nb.bench import add_arguments

    return add_arguments(argparse.ArgumentParser()).parse_args(["--full-size", *argv])


def test_bad_full_size_options_are_phi3nb_errors_before_anything_runs(tmp_path):
    from phi3nb.bench import run
    from phi3nb.errors import Phi3nbError

    work = ["--work-dir", str(tmp_path)]
    with pytest.raises(Phi3nbError, match="--model-id"):
        run(_args("--model-dir", str(tmp_path), *work))
    with pytest.raises(Phi3nbError, match="cookbook among"):
        run(_args("--presets", "fast", *work))
    with pytest.raises(Phi3nbError, match="g64, per-channel, int8"):  # the sweep's exports are named too
        run(_args("--presets", "cookbook,int2", *work))
    with pytest.raises(Phi3nbError, match="token counts"):
        run(_args("--prefill", "128,many", *work))
    assert list(tmp_path.iterdir()) == []


# The full-size run the plan's figures come from: a 2-core AMD EPYC, AVX2 only, 2026-12-02.
EPYC_RUN = Path(__file__).resolve().parent.parent / "phi3nb" / "measurements" / "full-size-epyc-avx2.json"


def _plan_of(run, root, monkeypatch, cached=True):
    """fullsize.planned() for the options `run` (a full-size JSON) recorded, its one-off steps cached or not,
    with llama.cpp taking part as it did there."""
    import phi3nb.bench.backend_llamacpp as backend_llamacpp
    from phi3nb.bench.full_size import run as fullsize
    from phi3nb.standins.phi3_random import PHI3_MINI_LAYERS

    meta = run["meta"]
    monkeypatch.setattr(backend_llamacpp, "unavailable_reason", lambda: None)
    args = _args("--work-dir", str(root), "--presets", ",".join(run["exports"]), "--runs", str(meta["rounds"]),
                 "--new-tokens", str(meta["new_tokens"]), "--chat-tokens", str(meta["chat_tokens"]),
                 "--prefill", ",".join(map(str, meta["prefill_lengths"])))
    where = fullsize.work_root(args)
    if cached:
        for name in [f"hf-{PHI3_MINI_LAYERS}l", *(f"ov-{n}" for n in run["exports"])]:
            (where / name).mkdir(parents=True)
        (where / f"hf-{PHI3_MINI_LAYERS}l" / "config.json").write_text("{}")
        (where / "q4_k_m.gguf").write_bytes(b"")
    return fullsize.planned(args, where, fullsize.options(args))


def test_the_plan_of_the_epyc_run_is_within_15_percent_of_its_clock(tmp_path, monkeypatch):
    """That run reused its stand-in, exports and GGUF, so its clock (elapsed_s) is its rounds: the plan, made
    for the same options, adds up to the same within 15 %. A plan that ran the long prompts in every round,
    left out the warm-up or a round, or took another CPU's figures, is off by more."""
    run = json.loads(EPYC_RUN.read_text())
    assert all(e["reused"] for e in run["exports"].values()) and run["gguf"]["reused"] and run["standin"]["reused"]
    p = _plan_of(run, tmp_path, monkeypatch)
    assert [s for w, s in p["steps"] if not w.startswith("round ")] == [None] * (1 + len(run["exports"]) + 1)
    rounds = [w for w, _ in p["steps"] if w.startswith("round ")]
    assert len(rounds) == run["meta"]["rounds"] and all(len(w.split(", ")) == len(run["engines"]) + 1
                                                        for w in rounds), rounds  # each engine, and the loads
    assert p["estimate_s"] == pytest.approx(run["meta"]["elapsed_s"], rel=0.15), p


def test_the_plans_one_off_steps_are_that_runs_measurements(tmp_path, monkeypatch):
    """The stand-in, the exports and the GGUF cost in the plan what that run (or the one before it, whose
    figures it kept) measured, to the second."""
    run = json.loads(EPYC_RUN.read_text())
    p = _plan_of(run, tmp_path, monkeypatch, cached=False)
    one_off = {w: s for w, s in p["steps"] if not w.startswith("round ")}
    measured = {"stand-in": run["standin"]["wall_s"], "GGUF + Q4_K_M": run["gguf"]["wall_s"],
                **{f"export, {n} flags": e["wall_s"] for n, e in run["exports"].items()}}
    assert one_off.keys() == measured.keys()
    assert {w: round(s) for w, s in one_off.items()} == {w: round(s) for w, s in measured.items()}


def test_the_default_plan_fits_45_minutes_from_scratch(tmp_path):
    """Nothing cached: the stand-in, two exports, the GGUF and 2 rounds, by the figures the two tests above
    check against that EPYC run; with the exports and GGUF there, those steps are reused and cost nothing."""
    from phi3nb.bench.full_size import run as fullsize

    args = _args("--work-dir", str(tmp_path))
    root = fullsize.work_root(args)
    fresh = fullsize.planned(args, root, fullsize.options(args))
    what = [w for w, _ in fresh["steps"]]
    assert what[:3] == ["stand-in", "export, cookbook flags", "export, fast flags"]
    assert sum(w.startswith("round ") for w in what) == 2
    assert fresh["estimate_s"] < 45 * 60, fullsize.format_plan(fresh)
    for name in ("hf-32l", "ov-cookbook", "ov-fast"):
        (root / name).mkdir(parents=True)
    (root / "hf-32l" / "config.json").write_text("{}")
    (root / "q4_k_m.gguf").write_bytes(b"")
    cached = fullsize.planned(args, root, fullsize.options(args))
    assert [s for w, s in cached["steps"] if not w.startswith("round ")] == [None] * (len(what) - 2)


def test_rounds_run_long_prompts_once_and_the_loads_in_order(monkeypatch, tmp_path):
    """Which process each round starts (faked): the long prompts in round 1 only; the load steps in their order,
    the compiled-model folder emptied before its first load; the figures merged per round and compared."""
    from phi3nb.bench import runner
    from phi3nb.bench.full_size import run as fullsize

    calls = []

    def fake_run_job(job, **kw):
        calls.append(job)
        cache = (job.get("ov_config") or {}).get("CACHE_DIR")
        if cache:  # emptied before the first load with it, kept for the next
            assert Path(cache).exists() == ("clear" not in job), job
            Path(cache).mkdir(exist_ok=True)  # what OpenVINO does
        r, fast = job["round"], job["kind"] != "llama.cpp"
        tpot = (10.0 if fast else 20.0) + r
        return {"load_s": 1.0 + r, "first_ttft_ms": 100.0, "later_ttft_ms": 10.0, "tpot_ms": tpot,
                "decode_tok_s": 1000 / tpot, "prefill_ttft_ms": {str(n): float(n) for n in job.get("prefill", ())},
                "memory": {"phases": {"decode": {"rss_mb": 100.0 + r, "rss_file_mb": 60.0, "rss_anon_mb": 40.0 + r}},
                           "hwm_mb": 120.0 + r, "peak_source": "sampled"}}

    monkeypatch.setattr(runner, "run_job", fake_run_job)
    opts = {"new_tokens": 8, "chat_tokens": 0, "prefill": (128, 1000, 3000)}
    jobs = fullsize.all_jobs(tmp_path, tmp_path / "ov-cookbook", {"fast": tmp_path / "ov-fast"},
                             tmp_path / "q.gguf", opts, config={"CACHE_DIR": ""})
    per_round = runner.run_rounds(jobs, 2, log=lambda m: None, run=fullsize.run_one)

    chat = [c for c in calls if c["kind"] == "genai" and c["model_dir"].endswith("ov-cookbook") and "new_tokens" in c]
    assert [c["prefill"] for c in chat] == [[128, 1000, 3000], [128]]
    assert [c["prefill"] for c in calls if c["kind"] == "optimum"] == [[128], [128]]
    loads = [c for c in calls if "new_tokens" not in c]
    assert len(loads) == 12 and [bool(c.get("evict")) for c in loads[:6]] == [True, False, False, False, True, False]

    merged = fullsize.merge_engine(per_round["genai-chat"])
    assert merged["tpot_ms"]["per_round"] == [10.0, 11.0] and merged["tpot_ms"]["median"] == 10.5
    assert merged["prefill_ttft_ms"]["3000"]["per_round"] == [3000.0, None]
    assert merged["memory"]["decode"]["rss_mb"] == 101.0 and merged["hwm_mb"] == 121.0 and merged["peak_source"] == "sampled"
    ratios = fullsize.ratios({n: per_round[n] for n in jobs if n != "loads"}, per_round["loads"])
    assert ratios[f"genai-chat / {fullsize.LLAMA}"]["tpot_ms"]["per_round"] == [2.0, 21.0 / 11.0]
    assert ratios[f"genai-chat / {fullsize.LLAMA}"]["prefill_ttft_ms 3000"]["n"] == 1
    assert set(fullsize.merge_loads(per_round["loads"])) == set(jobs["loads"]["steps"])


@pytest.fixture(scope="module")
def full_size_run(tmp_path_factory):
    """One round of --full-size on a 2-layer Phi-3 of tiny widths passed as --model-id: (result, report, args)."""
    from phi3nb.bench import run
    from phi3nb.standins.phi3_random import write_random_phi3

    base = tmp_path_factory.mktemp("fullsize")
    hf = write_random_phi3(base / "tiny-hf", 2, TINY)
    args = _args("--model-id", str(hf), "--work-dir", str(base / "work"), "--presets", "cookbook,per-channel",
                 "--runs", "1",
                 "--new-tokens", "4", "--chat-tokens", "2", "--prefill", "16,200", "--json", str(base / "out.json"))
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        run(args)
    return json.loads((base / "out.json").read_text()), printed.getvalue(), args, hf


def _positive(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_the_full_size_json_has_every_figure_with_its_unit(full_size_run):
    from phi3nb.bench.backend_llamacpp import unavailable_reason
    from phi3nb.bench.full_size.run import LLAMA
    from phi3nb.standins.phi3_random import parameter_count
    from phi3nb.run.cpu import cpu_info

    data, _, args, hf = full_size_run
    meta = data["meta"]
    assert meta["cpu"]["model"] == cpu_info()["model"] and meta["cpu"]["flags"] == cpu_info()["flags"]
    assert set(cpu_info()["flags"]) <= set(meta["cpu"]["lscpu_flags"])
    assert meta["model"]["parameters"] == parameter_count(hf) and meta["model"]["stand_in"] is False
    assert meta["versions"]["openvino"] and meta["versions"]["openvino-genai"] and meta["units"]["_mb"]
    assert meta["date"][:4].isdigit() and meta["rounds"] == 1 and meta["prefill_lengths"] == [16, 200]

    export = data["exports"]["cookbook"]
    assert export["flags"] == {"weight_format": "int4", "group_size": 128, "ratio": 0.6, "sym": True}
    assert all(_positive(export[k]) for k in ("wall_s", "call_s", "final_mb"))
    mem = export["memory"]
    assert all(_positive(mem[k]) for k in ("rss_mb", "rss_file_mb", "rss_anon_mb", "uss_peak_mb", "hwm_mb"))
    assert mem["rss_file_mb"] + mem["rss_anon_mb"] <= mem["rss_mb"] + 1 <= mem["hwm_mb"] + 1
    assert mem["peak_source"] == ("peak_wset" if sys.platform == "win32" else "sampled")
    assert export["disk"]["peak_added_mb"] > export["final_mb"] > 0  # the partial folder and temporary files too

    from phi3nb.export.folder.model_dir import weight_compression

    swept = data["exports"]["per-channel"]  # a sweep preset: exported by export_model and timed like the fast ones
    assert swept["flags"]["group_size"] == -1 and weight_compression(swept["model_dir"])[1] == -1

    llama = unavailable_reason() is None
    build = meta["llama_cpp_build"]
    assert (build is not None and "AVX" in build["system_info"]) if llama else build is None
    engines = data["engines"]
    assert set(engines) == {"optimum-cookbook", "genai-chat", "genai-per-channel", LLAMA}
    for name, e in engines.items():
        if name == LLAMA and not llama:
            assert "llama_cpp" in e["error"]
            continue
        assert "error" not in e, (name, e)
        for key in ("load_s", "load_cpu_s", "first_ttft_ms", "later_ttft_ms", "tpot_ms", "decode_tok_s"):
            assert _positive(e[key]["median"]) and e[key]["n"] == 1, (name, key, e[key])
        assert e["tpot_ms"]["median"] * e["decode_tok_s"]["median"] == pytest.approx(1000)
        assert _positive(e["memory"]["decode"]["rss_mb"]) and _positive(e["hwm_mb"])
    assert set(engines["genai-chat"]["prefill_ttft_ms"]) == {"16", "200"}
    from phi3nb.run.cpu_config import fast_cpu_config

    for name in ("genai-chat", "genai-per-channel"):  # each row names the config load_genai chose for its export
        folder = data["exports"][name.replace("genai-chat", "cookbook").replace("genai-", "")]["model_dir"]
        assert engines[name]["ov_config"] == {k: v for k, v in fast_cpu_config(folder).items() if k != "CACHE_DIR"}
    assert "ov_config" not in engines["optimum-cookbook"]
    assert set(engines["optimum-cookbook"]["prefill_ttft_ms"]) == {"16"}  # 200 > LONG: the chat's path's only
    assert len(engines["genai-chat"]["chat_ttft_by_turn_ms"]) == 5 and _positive(engines["genai-chat"]["memory"]["chat"]["rss_mb"])

    loads = data["load"]
    assert {"genai cold", "genai warm", "genai CACHE_DIR, first", "genai CACHE_DIR, reused"} <= set(loads)
    for e in loads.values():
        assert _positive(e["load_s"]["median"]) and _positive(e["first_ttft_ms"]["median"])
        assert 0 < e["load_cpu_s"]["median"] <= e["load_s"]["median"] * os.cpu_count() * 1.05  # no more than every core
    assert "tpot_ms" in data["ratios"]["genai-chat / optimum-cookbook"]
    if llama:
        assert _positive(data["gguf"]["final_mb"]) and _positive(data["gguf"]["memory"]["rss_mb"])
        assert "prefill_ttft_ms 200" in data["ratios"][f"genai-chat / {LLAMA}"]


def test_the_full_size_report_names_the_cpu_beside_every_figure(full_size_run):
    from phi3nb.run.cpu import cpu_info

    _, report, _, _ = full_size_run
    cpu = cpu_info()["model"]
    headers = ("step ", "optimum-cookbook", "load s  first reply")
    rows = [line for line in report.splitlines() if line.startswith("  ") and re.search(r"\d", line)
            and not line.strip().startswith(headers) and "not measured" not in line]
    assert len(rows) > 20
    assert [line for line in rows if f"[{cpu}" not in line] == []


def test_a_second_run_reuses_the_exports_and_their_measurements(full_size_run):
    """Nothing is left half-written, and the next run takes the export and the GGUF (and what they cost) as is."""
    from phi3nb.bench.full_size import run as fullsize
    from phi3nb.bench.presets import COOKBOOK_PRESET

    data, _, args, _ = full_size_run
    root = fullsize.work_root(args)
    assert [p.name for p in root.rglob("*") if p.name.endswith(".partial") or p.name in ("tmp", "compiled")] == []
    again = fullsize.prepare(args, root, {"cookbook": COOKBOOK_PRESET}, "ignored")
    assert again["exports"]["cookbook"]["reused"] is True
    assert again["exports"]["cookbook"]["wall_s"] == data["exports"]["cookbook"]["wall_s"]
    if "final_mb" in data["gguf"]:
        assert again["gguf"]["reused"] is True and again["gguf"]["wall_s"] == data["gguf"]["wall_s"]


def test_the_phi35_stand_in_is_phi35_minis_config_on_the_stand_ins_linked_weights(tmp_path):
    """Phi-3.5-mini-instruct's LongRoPE (48 factors each, one per rotary pair of a 96-wide head; switch 4,096,
    context 131,072) over the Phi-3-mini stand-in's weights, linked, not copied; the source's config untouched."""
    from phi3nb.run.rope_switch import longrope_switch
    from phi3nb.standins.phi3_random import phi35_standin, write_random_phi3

    base = write_random_phi3(tmp_path / "hf-32l", 2, sizes=TINY)  # the name full_size_standin reuses
    path = phi35_standin(tmp_path)
    config, source = (json.loads((p / "config.json").read_text()) for p in (path, base))
    assert longrope_switch(config) == 4096 and config["max_position_embeddings"] == 131072
    assert {len(config["rope_scaling"][k]) for k in ("long_factor", "short_factor")} == {3072 // 32 // 2}
    assert source["rope_scaling"] is None and source["max_position_embeddings"] == 4096
    weights = sorted(base.glob("*.safetensors"))
    assert weights and all((path / w.name).stat().st_ino == w.stat().st_ino for w in weights)


def test_the_long_context_bench_follows_one_chat_across_the_switch(tmp_path):
    """The bench's chat step on a tiny Phi-3.5-mini: turns of pasted text until past the checkpoints; the turn
    that takes the conversation past 4,096 tokens re-reads it, the turns around it are decode before and after,
    and memory is read at each checkpoint. No speed is asserted."""
    from phi3nb import export_model
    from phi3nb.bench.full_size.long_context import long_chat, report, summary
    from tiny_phi_family import build_tiny_phi35

    folder = export_model(build_tiny_phi35(tmp_path / "hf"), tmp_path / "ov", weight_format="fp16")
    chat = long_chat({"model_dir": str(folder), "upto": 6000, "doc_tokens": 1000, "reply_tokens": 6,
                      "checkpoints": [2000, 4000, 6000]})
    turns, s = chat["turns"], summary(chat)
    assert chat["switch"] == 4096 and chat["follows_switch"] and turns[-1]["held"] >= 6000
    rereads = [t for t in turns if t["reread"]]
    assert len(rereads) == 1 and rereads[0]["reread"]["tokens"] > 4096  # once, the whole conversation
    assert rereads[0]["rebuilds"] == turns[-1]["rebuilds"] == 1  # in a fresh pipeline, then carried on
    assert s["decode_before"]["held"] <= 4096 < s["crossing"]["held"] < s["decode_after"]["held"]
    assert [m["held"] >= int(k) for k, m in s["memory"].items()] == [True] * 3
    assert all(m["rss_mb"] > 0 for m in s["memory"].values())
    assert "re-read" in report({"summary": s, "meta": {"date": "today"}})


def test_cold_loads_are_timed_only_where_the_page_cache_can_be_dropped(tmp_path, monkeypatch):
    """Windows and macOS have no os.posix_fadvise: a "cold" load there would be a warm one under the wrong name."""
    import os

    from phi3nb.bench.full_size.run import LLAMA, load_steps

    args = (tmp_path / "int4", tmp_path / "q4.gguf", tmp_path / "compiled")
    if hasattr(os, "posix_fadvise"):
        assert {"genai cold", f"{LLAMA} cold"} <= set(load_steps(*args, config={}))
    monkeypatch.delattr(os, "posix_fadvise", raising=False)
    steps = load_steps(*args, config={})
    assert not [name for name in steps if "cold" in name] and {"genai warm", f"{LLAMA} warm"} <= set(steps)
