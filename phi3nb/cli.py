"""The `phi3nb` command: the notebook's steps from a terminal (demo, export, chat, prepare, bench)."""

import argparse
import sys
import time

from .errors import Phi3nbError
from .cookbook import OV_CONFIG, COOKBOOK_DEVICE, COOKBOOK_EXPORT, COOKBOOK_MODEL_DIR, COOKBOOK_QUESTION, COOKBOOK_SYSTEM
from .export.embedded import EMBEDDED_FORMAT, EMBEDDED_ID, prepare_embedded_model
from .export.options import WEIGHT_FORMATS
from .export.presets import PRESETS

BENCH = "phi3nb.bench"  # the measuring tools: `phi3nb bench` runs them as their own program, never imports them
TRUST_HELP = "run Python code from the model's repository, for models transformers does not know (default: never)"


def obtain_model(model_id, model_dir, weight_format=None, trust_remote_code=False):
    """Step 1 for any source: the embedded model (offline), an OpenVINO model as it is, or an export of `model_id`."""
    from pathlib import Path

    from .export.convert import export_model
    from .export.options import command_that_made

    if model_id == EMBEDDED_ID:
        return prepare_embedded_model(weight_format or EMBEDDED_FORMAT)
    path = export_model(model_id, model_dir, weight_format=weight_format or COOKBOOK_EXPORT["weight_format"],
                        trust_remote_code=trust_remote_code)
    if path == Path(model_dir).expanduser().absolute():  # else export_model found an OpenVINO model and said so
        print(f"Step 1 as a terminal command: {command_that_made(path)}")
    return path


def demo(args):
    """The ten steps in order, printing the answer as it streams and how long each part took; the figures are
    a Turn's (the chat box's stats line), counted as the tokens came."""
    from .chat.turn import Turn
    from .run.generation import generate_answer
    from .run.loading import load_model, load_tokenizer
    from .run.prompts import build_prompt
    from .run.streaming import CallbackStreamer

    trust = args.trust_remote_code
    model_dir = obtain_model(args.model_id, args.model_dir, args.weight_format, trust_remote_code=trust)
    start = time.perf_counter()
    model = load_model(model_dir, device=args.device, ov_config=OV_CONFIG, trust_remote_code=trust)
    tok = load_tokenizer(model_dir, trust_remote_code=trust)
    load_s = time.perf_counter() - start
    prompt = build_prompt(tok, args.question)
    print(f"\nPrompt:\n{prompt}\n\nAnswer:")
    streamer = CallbackStreamer(tok, lambda piece: print(piece, end="", flush=True))
    start = time.perf_counter()
    answer = generate_answer(model, tok, prompt, max_new_tokens=args.max_new_tokens, streamer=streamer)
    finish = "eos" if streamer.stopped_at is not None else "length"
    turn = Turn(answer, streamer.tokens, start, streamer.first_token_at, time.perf_counter(), finish, dropped=0)
    print(f"\n\n[phi3nb] load {load_s:.1f} s | {turn.stats()}")
    return answer


def chat(args):
    """A terminal chat in the spirit of openvino.genai's chat_sample: streamed, with history."""
    from .chat.turn import chat_turn
    from .run.loading import load_model, load_tokenizer

    if (args.url is None) == (args.model_dir is None):
        raise Phi3nbError("Give either a model folder (phi3nb chat MODEL_DIR) or a server (phi3nb chat --url URL).")
    if args.url:
        from .chat.server_client import RemoteChat

        model, tok = RemoteChat(args.url, model=args.model), None
        print(f"[phi3nb] chatting with {model.model} at {model.base_url}")
    elif args.backend == "genai":
        from .run.genai import load_genai

        model = load_genai(args.model_dir, device=args.device)
        tok = load_tokenizer(args.model_dir, trust_remote_code=args.trust_remote_code)
    else:
        model = load_model(args.model_dir, device=args.device, ov_config=OV_CONFIG,
                           trust_remote_code=args.trust_remote_code)
        tok = load_tokenizer(args.model_dir, trust_remote_code=args.trust_remote_code)
    from .run.rope_switch import ticking

    # while a LongRoPE model re-reads the conversation at its switch: one line counting the seconds, then what it took
    recompute_line = ticking(tick=lambda work: print(f"\r[phi3nb] {work.status()}", end="", flush=True),
                             start=lambda work: print(f"\n[phi3nb] {work.status()}", end="", flush=True),
                             end=lambda work: print(f"\r[phi3nb] {work.status()}", flush=True))
    history = []
    print("Chat with the model; Ctrl-C stops a reply, Ctrl-D leaves.")
    while True:
        try:
            text = input("\nquestion:\n")
        except EOFError:
            print()
            return history
        printed = []

        def show(piece):
            printed.append(piece)
            print(piece, end="", flush=True)

        try:
            turn = stoppable(lambda stop: chat_turn(
                model, tok, history, text, system=args.system, max_new_tokens=args.max_new_tokens, on_text=show,
                stop_event=stop, on_status=recompute_line), reading=lambda: not printed)
        except Phi3nbError as e:
            print(f"[phi3nb] {e}")
            continue
        if turn.dropped:
            print(f"\n[phi3nb] dropped the {turn.dropped} oldest turn(s) to fit the context window.")
        print(f"\n[{turn.stats()}]\n----------")


def stoppable(reply, reading=lambda: False):
    """reply(stop_event) in a thread, so Ctrl-C stops the reply, not the program: the conversation stays, this
    reply's words too. A second Ctrl-C leaves. The model reads a prompt in one go, which nothing interrupts:
    while `reading()`, the line says the reply stops at its first word."""
    import threading

    from .run.in_thread import call_in_thread

    stop = threading.Event()

    def on_interrupt(ctrl_c):
        if stop.is_set():
            raise ctrl_c
        stop.set()
        where = ("the model is still reading the prompt; the reply stops at its first word" if reading()
                 else "stopping the reply")
        print(f"\n[phi3nb] {where} (Ctrl-C again to leave)", flush=True)

    return call_in_thread(lambda: reply(stop), on_interrupt, "phi3nb-reply")


def export(args):
    """Export, then print the optimum-cli line of what ran (from its manifest: a group size that did not fit the
    model shows as the one used)."""
    from .export.convert import export_model
    from .export.options import command_that_made

    options = {**PRESETS[args.preset], **{k: v for k, v in (("weight_format", args.weight_format),
               ("group_size", args.group_size), ("ratio", args.ratio), ("sym", args.sym)) if v is not None}}
    path = export_model(args.model_id, args.output, trust_remote_code=args.trust_remote_code, **options)
    line = command_that_made(path)
    print(line if line.startswith("#") else f"Same as: {line}")  # a comment when optimum-cli has no equivalent


def prepare(args):
    """Download and export the embedded model now (set-up does this, so the first run is quick)."""
    for fmt in args.weight_format:
        print(prepare_embedded_model(fmt))


def bench(argv) -> int:
    """`phi3nb bench ARGS` is `python -m phi3nb.bench ARGS`, with its exit code (its options: phi3nb bench --help)."""
    import subprocess

    return subprocess.call([sys.executable, "-m", BENCH, *argv])


def parser():
    p = argparse.ArgumentParser(prog="phi3nb", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the ten steps and print the answer")
    d.add_argument("--model-id", default=EMBEDDED_ID,
                   help="'embedded' (offline SmolLM2-135M, default), a model id such as microsoft/Phi-3-mini-4k-instruct, "
                        "or an OpenVINO model used as it is (a folder, or e.g. OpenVINO/Phi-3-mini-4k-instruct-int4-ov)")
    d.add_argument("--model-dir", default=COOKBOOK_MODEL_DIR, help="where to export --model-id (default: %(default)s)")
    d.add_argument("--weight-format", choices=WEIGHT_FORMATS,
                   help="default: int8 for the embedded model, the cookbook's int4 otherwise")
    d.add_argument("--device", default=COOKBOOK_DEVICE, help="falls back to CPU when absent (default: %(default)s)")
    d.add_argument("--question", default=COOKBOOK_QUESTION)
    d.add_argument("--max-new-tokens", type=int, default=256)
    d.add_argument("--trust-remote-code", action="store_true", help=TRUST_HELP)
    d.set_defaults(func=demo)

    c = sub.add_parser("chat", help="multi-turn chat in the terminal, with a local model or a server")
    c.add_argument("model_dir", nargs="?", help="an exported model folder (or use --url)")
    c.add_argument("--url", help="an OpenAI-compatible server, e.g. http://host:8000/v3 (OpenVINO Model Server); "
                                 "its API key, if any, is read from $PHI3NB_API_KEY")
    c.add_argument("--model", help="with --url: the served model's name (default: the server's only model)")
    c.add_argument("--device", default="CPU")
    c.add_argument("--backend", choices=("genai", "optimum"), default="genai",
                   help="genai (openvino_genai.LLMPipeline: faster, reuses the KV cache across turns) or "
                        "optimum (the cookbook's OVModelForCausalLM)")
    c.add_argument("--system", default=COOKBOOK_SYSTEM)
    c.add_argument("--max-new-tokens", type=int, default=512)
    c.add_argument("--trust-remote-code", action="store_true", help=TRUST_HELP)
    c.set_defaults(func=chat)

    e = sub.add_parser("export", help="export a model to OpenVINO (the cookbook's optimum-cli line)")
    e.add_argument("model_id")
    e.add_argument("output")
    e.add_argument("--preset", choices=tuple(PRESETS), default="cookbook",
                   help="cookbook: the cookbook's int4 g128 ratio 0.6 sym; fast: every layer int4 (ratio 1.0), "
                        "faster decoding than the cookbook's on every CPU measured, at some cost in quality; "
                        "fast-se: fast plus scale estimation, nearly the cookbook's quality, a slower export "
                        "(docs/how-fast.md); the options below override it")
    e.add_argument("--weight-format", choices=WEIGHT_FORMATS)
    e.add_argument("--group-size", type=int)
    e.add_argument("--ratio", type=float)
    e.add_argument("--sym", action=argparse.BooleanOptionalAction, default=None)
    e.add_argument("--trust-remote-code", action="store_true", help=TRUST_HELP)
    e.set_defaults(func=export)

    r = sub.add_parser("prepare", help="download and export the embedded model")
    r.add_argument("--weight-format", nargs="+", default=[EMBEDDED_FORMAT], choices=WEIGHT_FORMATS)
    r.set_defaults(func=prepare)

    from importlib.util import find_spec

    if find_spec(BENCH) is not None:  # found without running it
        sub.add_parser("bench", add_help=False, help="measure speed: optimum vs genai vs llama.cpp")
    from .speed import profile as decode_profile
    from .speed import tune

    t = sub.add_parser("tune", help="time runtime configs on this machine; load_genai then uses the fastest")
    tune.add_arguments(t)
    t.set_defaults(func=tune.run)
    f = sub.add_parser("profile", help="where decoding time goes on this CPU, and whether it is compute- or "
                                        "bandwidth-bound")
    decode_profile.add_arguments(f)
    f.set_defaults(func=decode_profile.run)
    return p


def main(argv=None):
    p = parser()
    args, rest = p.parse_known_args(argv)  # the rest: the bench's own options
    if rest and args.command != "bench":
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        if args.command == "bench":
            return bench(rest)
        args.func(args)
    except Phi3nbError as e:
        print(f"phi3nb: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
