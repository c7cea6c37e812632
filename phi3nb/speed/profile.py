"""`phi3nb profile MODEL_DIR`: where one decoded token's time goes on this CPU, from OpenVINO's own counters.

"Is decoding bandwidth- or compute-bound here?" is answered by measurement, not by the CPU's name:
OpenVINO's per-node counters (PERF_COUNT) give each node type's time and the kernel it chose (the exec
type names the instruction set: avx2, avx512, amx); the same decode with one thread instead of all of
them shows whether the matrix products scale with cores (compute-bound) or stay put (bandwidth-bound).
"""

import collections
import time

SCALING_COMPUTE_BOUND = 0.8  # speedup per thread at or above this: the cores, not memory, set the pace


def decode_profile(model_dir, ov_config=None, steps=32, prompt_tokens=16, threads=None) -> dict:
    """Profile `steps` single-token decode steps after a short prompt, with the stateful IR in `model_dir`.

    Returns {"ms_per_token", "threads", "nodes": [{"type", "kernel", "ms_per_token", "share"}, ...]}
    (slowest first); the counters' sum is the plugin's time, the wall time also covers Python.
    """
    import numpy as np
    import openvino as ov

    from ..run.cpu_config import fast_cpu_config
    from ..export.folder.model_dir import check_model_dir

    path = check_model_dir(model_dir)
    config = {**(fast_cpu_config(path) if ov_config is None else ov_config), "PERF_COUNT": True}
    config.pop("CACHE_DIR", None)
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = ov.Core().compile_model(str(path / "openvino_model.xml"), "CPU", config)
    inputs = {i.get_any_name() for i in compiled.inputs}
    request = compiled.create_infer_request()

    def step(ids, past):
        feed = {"input_ids": ids, "attention_mask": np.ones((1, past + ids.shape[1]), np.int64)}
        if "position_ids" in inputs:
            feed["position_ids"] = np.arange(past, past + ids.shape[1], dtype=np.int64)[None]
        if "beam_idx" in inputs:
            feed["beam_idx"] = np.zeros(1, np.int32)
        request.infer(feed)
        return np.asarray(request.get_tensor("logits").data)[0, -1].argmax()

    token = step(np.arange(100, 100 + prompt_tokens, dtype=np.int64)[None], 0)  # any ids: speed, not text
    after_prompt = node_totals(request.profiling_info, runs=1)
    start = time.perf_counter()
    for i in range(steps):
        token = step(np.array([[token]], np.int64), prompt_tokens + i)
    wall = (time.perf_counter() - start) / steps * 1e3
    per_node = node_totals(request.profiling_info, runs=1 + steps) - after_prompt  # the decode steps alone
    total = sum(per_node.values()) or 1.0
    nodes = [{"type": t, "kernel": k, "ms_per_token": ms / steps, "share": ms / total}
             for (t, k), ms in per_node.most_common()]
    return {"ms_per_token": wall, "threads": compiled.get_property("INFERENCE_NUM_THREADS"), "nodes": nodes}


def node_totals(profiling_info, runs) -> collections.Counter:
    """ms per (node type, kernel) over a request's first `runs` inferences.

    The CPU plugin reports each node's average over every inference of the request so far, not the
    last one's time, so the total is that average times the number of inferences.
    """
    totals = collections.Counter()
    for info in profiling_info:
        if info.status == info.Status.EXECUTED:
            totals[(info.node_type, info.exec_type)] += info.real_time.total_seconds() * 1e3 * runs
    return totals


def matmul_ms(profile) -> float:
    """ms per token in the weight-bearing matrix products (FullyConnected nodes, compressed or not)."""
    return sum(n["ms_per_token"] for n in profile["nodes"] if n["type"].startswith("FullyConnected"))


def verdict(one_thread, all_threads) -> dict:
    """Compute-bound if the matrix products speed up nearly in step with the threads, else memory-bound
    (or, for a tiny model, bound by per-node overhead, which does not scale either)."""
    speedup = matmul_ms(one_thread) / max(matmul_ms(all_threads), 1e-9)
    threads = int(all_threads["threads"])
    if threads < 2:
        return {"speedup": speedup, "bound": "unknown (one thread: nothing to compare)"}
    bound = "compute" if speedup / threads >= SCALING_COMPUTE_BOUND else "memory- or overhead"
    return {"speedup": speedup, "bound": bound}


def format_profile(profile, top=6) -> str:
    lines = [f"{profile['ms_per_token']:.2f} ms/token with {profile['threads']} threads "
             f"(matrix products {matmul_ms(profile):.2f} ms):"]
    for n in profile["nodes"][:top]:
        lines.append(f"  {n['ms_per_token']:7.3f} ms {n['share']:6.1%}  {n['type']:<34} {n['kernel']}")
    return "\n".join(lines)


def profile(model_dir, ov_config=None, steps=32, log=print) -> dict:
    """Both profiles (1 thread, all threads), the verdict, printed with the CPU it was measured on."""
    from ..run.cpu import cpu_info, format_cpu, quantizes_activations

    all_threads = decode_profile(model_dir, ov_config, steps)
    one_thread = decode_profile(model_dir, ov_config, steps, threads=1)
    result = {"cpu": cpu_info(), "all_threads": all_threads, "one_thread": one_thread,
              **verdict(one_thread, all_threads)}
    log(f"[profile] {model_dir}, {format_cpu(result['cpu'])}")
    if quantizes_activations(result["cpu"]) is False:
        log("[profile] no VNNI on this CPU: OpenVINO computes with f32 activations, so "
            "DYNAMIC_QUANTIZATION_GROUP_SIZE changes nothing here")
    log(format_profile(all_threads))
    log(format_profile(one_thread, top=2))
    log(f"[profile] matrix products {result['speedup']:.2f}x faster with {all_threads['threads']} threads than "
        f"with 1: {result['bound']}-bound here")
    return result


def add_arguments(parser):
    parser.add_argument("model_dir", help="an exported OpenVINO model folder")
    parser.add_argument("--steps", type=int, default=32, help="decode steps profiled (default 32)")
    parser.add_argument("--load", action="store_true",
                        help="instead: where the load's time goes (read, compile, the first inference's weight "
                             "layout) and how many cores each stage keeps busy")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                        help="an OpenVINO CPU property on top of load_genai's default, e.g. "
                             "DYNAMIC_QUANTIZATION_GROUP_SIZE=128 (repeatable)")
    return parser


def run(args) -> dict:
    from ..errors import Phi3nbError
    from ..run.cpu_config import fast_cpu_config

    config = fast_cpu_config(args.model_dir)
    for item in args.config:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Phi3nbError(f"--config {item!r}: write KEY=VALUE, e.g. --config DYNAMIC_QUANTIZATION_GROUP_SIZE=128")
        config[key] = value
    if args.load:
        from ..run.cpu import cpu_info, format_cpu
        from .load_profile import format_load_profile, load_profile

        found = load_profile(args.model_dir, config)
        print(f"[profile] {args.model_dir}, {format_cpu(cpu_info())}\n{format_load_profile(found)}", flush=True)
        return found
    return profile(args.model_dir, config, args.steps)
