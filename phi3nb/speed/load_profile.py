"""`phi3nb profile MODEL_DIR --load`: where a load's seconds go, before the first message can be answered.

The chat's load is read model, compile, then the first inference of each step shape, where the CPU plugin
lays each layer's weights out for its kernels (GenaiModel.warm_up). Each stage is timed with the process's
CPU time beside its wall time (CPU / wall is how many cores it kept busy), and the first prompt is set
against a repeat of it: what it takes beyond the repeat is one-off work (the weights' layout; the plugin's
node counters leave it out, so it is read from the wall clock). A stage that keeps one core busy of
several could go faster in parallel; one that keeps them all busy is bound by the work itself.
"""

import time

PROMPT_ROWS = 16  # GenaiModel.warm_up's prompt (WARM_UP_ROWS), then one decode row


def _stage(fn):
    """(result, wall s, CPU s of this process) of fn()."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def load_profile(model_dir, ov_config=None) -> dict:
    """{"stages": [{"stage", "wall_s", "cpu_s", "busy_cores"}], "one_off_s", "threads"} for the stateful IR in
    `model_dir` with `ov_config` (default: load_genai's CPU default for it)."""
    import numpy as np
    import openvino as ov

    from ..export.folder.model_dir import check_model_dir
    from ..run.cpu_config import fast_cpu_config
    path = check_model_dir(model_dir)
    config = dict(fast_cpu_config(path) if ov_config is None else ov_config)
    config.pop("CACHE_DIR", None)
    stages = []

    def timed(name, fn):
        out, wall, cpu = _stage(fn)
        stages.append({"stage": name, "wall_s": wall, "cpu_s": cpu, "busy_cores": cpu / wall if wall else 0.0})
        return out

    core = ov.Core()
    model = timed("read the model", lambda: core.read_model(str(path / "openvino_model.xml")))
    compiled = timed("compile", lambda: core.compile_model(model, "CPU", config))
    inputs = {i.get_any_name() for i in compiled.inputs}
    request = compiled.create_infer_request()

    def infer(rows, past):
        feed = {"input_ids": np.arange(100, 100 + rows, dtype=np.int64)[None],
                "attention_mask": np.ones((1, past + rows), np.int64)}
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(past, past + rows, dtype=np.int64)[None]
        if "beam_idx" in inputs:
            feed["beam_idx"] = np.zeros(1, np.int32)
        request.infer(feed)

    timed(f"first {PROMPT_ROWS}-row prompt", lambda: infer(PROMPT_ROWS, 0))
    timed("first decode row", lambda: infer(1, PROMPT_ROWS))
    request.reset_state()
    timed(f"the same {PROMPT_ROWS}-row prompt again", lambda: infer(PROMPT_ROWS, 0))
    return {"stages": stages, "threads": compiled.get_property("INFERENCE_NUM_THREADS"),
            "one_off_s": stages[2]["wall_s"] - stages[4]["wall_s"]}


def format_load_profile(found) -> str:
    lines = [f"load, {found['threads']} threads (CPU s / wall s: the cores a stage kept busy):"]
    lines += [f"  {s['wall_s']:7.2f} s wall {s['cpu_s']:7.2f} s CPU  {s['busy_cores']:4.1f} cores  {s['stage']}"
              for s in found["stages"]]
    lines.append(f"  one-off work at the first prompt (its wall time less its repeat's): {found['one_off_s']:.2f} s")
    return "\n".join(lines)
