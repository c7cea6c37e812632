"""`phi3nb tune MODEL_DIR`: time a few runtime configs on this machine and keep the fastest beside the export.

The best OpenVINO CPU properties depend on the CPU (bf16, AMX, AVX2 only), the core count and
the model, so they are measured rather than guessed. Candidates are timed in rounds, each a fresh
load, interleaved so that a busy moment on a shared machine hits all of them alike. A candidate
replaces load_genai's default only if the median of its runs beats the default's median by MARGIN:
on a shared VM one run can be 15 % faster than the next for no reason of its own (a full-size
Phi-3-mini on a 2-core Zen 4: kv-f16 118.5, then 142.0 and 139.7 ms/token), so a best-of rule
crowns a lucky run. On a large model every run is long, so a candidate already clearly behind the
default is not run again (RACE_MARGIN, on the bests: they only fall as runs are added), and no
round starts that would end past the time budget; only candidates that ran every round can win.
"""

import json
import statistics
import time

from ..run.cpu_config import FAST_CPU_CONFIG, TUNED_FILE, fast_cpu_config
from ..run.devices import full_device_name
from ..run.faster_export import export_advice, is_phi3

# Changes to load_genai's CPU default (fast_cpu_config: f32, int8 activations per 128 inputs or its CPU class's); "default" is
# that config itself. OpenVINO 2026.4's CPU plugin already keeps the KV cache in u8 and pins its threads,
# so those are tried the other way round.
CANDIDATES = {
    "default": {},
    "dq-32": {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 32},  # the plugin's own group size
    "dq-128": {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 128},  # where the default is wider (int4 per channel)
    "dq-256": {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 256},
    "dq-off": {"DYNAMIC_QUANTIZATION_GROUP_SIZE": 0},
    "kv-f16": {"KV_CACHE_PRECISION": "f16"},
    # On a 2-core AVX2-only EPYC at full size, 4 rounds each: 214 vs 223 ms per token (median), within that
    # VM's noise; the one candidate besides kv-f16 that applies on CPUs without VNNI or bf16.
    "no-pinning": {"ENABLE_CPU_PINNING": False},
    "bf16-default": {"INFERENCE_PRECISION_HINT": None},  # the plugin's own choice (bf16 where the CPU has it)
    # Both of the plugin's own choices, the cookbook's ov_config alone: what openvino.genai's own samples run.
    "openvino-own": {"INFERENCE_PRECISION_HINT": None, "DYNAMIC_QUANTIZATION_GROUP_SIZE": None},
}
MARGIN = 0.03
# A candidate whose best is this much slower than the default's after a round is not run again. Bests only
# fall as rounds are added, so to still win by MARGIN a later run of it would have to beat every earlier one
# by over 11 % ((1 + RACE_MARGIN) / (1 - MARGIN) - 1) while the default's runs did not improve at all; each
# further run of it costs a fresh load of the model.
RACE_MARGIN = 0.08
BUDGET_S = 300  # the default --budget, in seconds: on a large model each run is a load and a long decode


def config_of(changes, base=FAST_CPU_CONFIG) -> dict:
    """`base` (load_genai's default for the model) with `changes` applied; a None value removes the property."""
    config = {**base, **changes}
    return {k: v for k, v in config.items() if v is not None}


def no_ops(candidates, cpu=None, capabilities=None) -> dict:
    """{reason: [names]} of the candidates that change nothing on this CPU: the int8 activation group
    without VNNI, the plugin's own precision without bf16 (it is f32 then, the default's)."""
    from ..run.cpu import cpu_info, quantizes_activations

    if capabilities is None:
        import openvino as ov

        capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    rules = {"DYNAMIC_QUANTIZATION_GROUP_SIZE": (quantizes_activations(cpu or cpu_info()) is False,
                                                  "no VNNI on this CPU (avx_vnni, avx512_vnni), so OpenVINO "
                                                  "does not quantize activations and their group size changes "
                                                  "nothing"),
             "INFERENCE_PRECISION_HINT": ("BF16" not in capabilities,
                                          "no bf16 on this CPU, so the plugin's own precision is f32, the "
                                          "default's")}
    found = {}
    for name, changes in candidates.items():
        if changes and all(rules.get(key, (False,))[0] for key in changes):
            found.setdefault(rules[next(iter(changes))][1], []).append(name)
    return found


def rotated(names: list, r: int) -> list:
    """Round r's order: `names` rotated by r, so each goes first in turn."""
    k = r % len(names) if names else 0
    return names[k:] + names[:k]


def _time_one(model_dir, config, new_tokens):
    """(ttft_ms, tpot_ms) of one fresh load: warm-up, then `new_tokens` from decode_timing's question."""
    from .timing import WARMUP, WARMUP_TOKENS, TimedGenai, decode_prompt

    timed = TimedGenai(model_dir, "CPU", ov_config=config)
    try:
        timed.decode(WARMUP, WARMUP_TOKENS)
        ttft, tpot, _ = timed.decode(decode_prompt(model_dir), new_tokens)
    finally:
        timed.close()
    return ttft * 1e3, tpot * 1e3


def runnable(candidates, base, cpu, log) -> dict:
    """`candidates` without those that would time the default's config again on this model and CPU."""
    if "default" not in candidates:
        return candidates
    same = [n for n, c in candidates.items() if n != "default" and config_of(c, base) == config_of({}, base)]
    if same:  # e.g. dq-32 on a group-32 export: the default itself, timed again for nothing
        log(f"[tune] skipping {', '.join(same)}: the same as the default for this model")
    candidates = {n: c for n, c in candidates.items() if n not in same}
    for reason, names in no_ops(candidates, cpu).items():
        log(f"[tune] skipping {', '.join(names)}: {reason}")
        candidates = {n: c for n, c in candidates.items() if n not in names}
    return candidates


def _behind(alive, fastest, log, after) -> set:
    """The names in `alive` whose best is more than RACE_MARGIN slower than the default's, each logged."""
    if "default" not in fastest:
        return set()
    limit = fastest["default"] * (1 + RACE_MARGIN)
    behind = {n for n in alive if fastest[n] > limit}
    for name in sorted(behind, key=fastest.get):
        log(f"[tune] dropping {name} after round {after}: best {fastest[name]:.2f} ms/token, "
            f"{fastest[name] / fastest['default'] - 1:.0%} slower than the default's {fastest['default']:.2f} "
            f"(more than {RACE_MARGIN:.0%}: it cannot win)")
    return behind


def tune(model_dir, rounds=3, new_tokens=64, candidates=None, budget=BUDGET_S, log=print,
         clock=time.perf_counter) -> dict:
    """Time the candidates in up to `rounds` interleaved rounds, write TUNED_FILE beside the model, return it.

    After each round, candidates clearly behind the default are dropped (RACE_MARGIN); a further round
    starts only if, at the rounds so far's time per run, it ends within `budget` seconds of the start
    (None or 0: no limit). The first round always runs.
    """
    from ..run.cpu import cpu_info
    from ..errors import Phi3nbError
    from ..export.folder.model_dir import check_model_dir, int4_ratio, weight_compression

    started = clock()
    model_dir = check_model_dir(model_dir)
    cpu = cpu_info()
    base = fast_cpu_config(model_dir, cpu=cpu)
    candidates = runnable(CANDIDATES if candidates is None else candidates, base, cpu, log)
    advice = export_advice(cpu, weight_compression(model_dir), int4_ratio(model_dir), is_phi3(model_dir))
    if advice:
        log(f"[tune] {advice}")
    times = {name: {"ttft_ms": [], "tpot_ms": []} for name in candidates}
    took, dropped, alive, rounds_run = {name: [] for name in candidates}, {}, list(candidates), 0
    for r in range(rounds):
        if r:
            fastest = {name: min(times[name]["tpot_ms"]) for name in alive}
            for name in _behind([n for n in alive if n != "default"], fastest, log, after=r):
                dropped[name] = r
            alive = [n for n in alive if n not in dropped]
            spent, ahead = clock() - started, sum(sum(took[n]) / len(took[n]) for n in alive)
            if budget and spent + ahead > budget:
                log(f"[tune] stopping after {r} of {rounds} rounds: round {r + 1} would take about {ahead:.0f} s "
                    f"more, past the budget of {budget:.0f} s ({spent:.0f} s so far; --budget to change it)")
                break
        for name in rotated(alive, r):  # each candidate goes first in turn, as in the bench
            before = clock()
            ttft, tpot = _time_one(model_dir, config_of(candidates[name], base), new_tokens)
            took[name].append(clock() - before)
            times[name]["ttft_ms"].append(ttft)
            times[name]["tpot_ms"].append(tpot)
            log(f"[tune] round {r + 1}/{rounds} {name:<14} {tpot:6.2f} ms/token, first token {ttft:6.1f} ms")
        rounds_run = r + 1
    fastest = {name: min(t["tpot_ms"]) for name, t in times.items()}
    typical = {name: statistics.median(t["tpot_ms"]) for name, t in times.items()}
    best = min(alive, key=typical.get)
    if "default" in typical and typical[best] > typical["default"] * (1 - MARGIN):
        best = "default"  # not clearly faster: keep what everyone else runs
    result = {"winner": best, "ov_config": config_of(candidates[best], base), "cpu": full_device_name("CPU"),
              "date": time.strftime("%Y-%m-%d"), "new_tokens": new_tokens, "rounds": rounds,
              "rounds_run": rounds_run, "dropped_after_round": dropped, "budget_s": budget,
              "median_tpot_ms": typical, "best_tpot_ms": fastest, "times": times, "elapsed_s": clock() - started}
    try:
        (model_dir / TUNED_FILE).write_text(json.dumps(result, indent=2))
    except OSError as e:
        raise Phi3nbError(f"Cannot write {model_dir / TUNED_FILE} ({e.strerror}): tune a copy of the model in a "
                          f"folder you can write to. The winner was {best}: {result['ov_config']}.") from None
    log(f"[tune] winner: {best} (median {typical[best]:.2f} ms/token vs the default's "
        f"{typical.get('default', float('nan')):.2f}) "
        f"-> {model_dir / TUNED_FILE} (CPU: {result['cpu']}, {result['elapsed_s']:.0f} s)")
    return result


def add_arguments(parser):
    parser.add_argument("model_dir", help="an exported OpenVINO model folder (the tuned config is written into it)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per candidate (default 3)")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens decoded per timing (default 64)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, metavar="SECONDS",
                        help=f"start no round that would end later than this after the start (default {BUDGET_S}; "
                             "0: no limit); the first round always runs")
    return parser


def run(args) -> dict:
    return tune(args.model_dir, rounds=args.rounds, new_tokens=args.new_tokens, budget=args.budget)
