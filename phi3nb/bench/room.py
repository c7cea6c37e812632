"""`phi3nb bench --room N --url URL`: N attendees chatting with one server at once.

Each attendee is a thread with its own RemoteChat and history, asking a few workshop questions;
what a room feels is the time to first token (p50/p95) and what the server delivers in all.
Bounded: a fixed number of turns and a deadline; loopback only, so it never loads someone else's server.
"""

import statistics
import threading
import time
from urllib.parse import urlparse

from phi3nb.errors import Phi3nbError

QUESTIONS = ("Can you introduce yourself?", "What is OpenVINO?", "Give me three tips for a workshop.",
             "Explain what a token is in one sentence.")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def percentile(values, q) -> float:
    """The q-th percentile (0-100), interpolated; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def room_bench(url, attendees, *, turns=2, max_new_tokens=64, deadline_s=300, model=None, api_key=None) -> dict:
    """Run the room once; returns TTFT p50/p95 (ms), aggregate tokens/s, turns done and the errors seen."""
    from phi3nb.chat.turn import chat_turn
    from phi3nb.chat.server_client import RemoteChat

    if urlparse(url).hostname not in LOOPBACK:
        raise Phi3nbError(f"The room bench only runs against a server on this machine (127.0.0.1), not {url}: "
                          "start the server here, or measure on the server's own machine.")
    if not (isinstance(attendees, int) and attendees >= 1):
        raise Phi3nbError(f"--room {attendees!r}: use a whole number of attendees >= 1, e.g. --room 1,4,16.")
    stop_at = time.monotonic() + deadline_s
    ttfts, tokens, errors, lock = [], [0], [], threading.Lock()

    def attendee(i):
        try:
            chat = RemoteChat(url, model=model, api_key=api_key)
        except Phi3nbError as e:
            with lock:
                errors.append(str(e))
            return
        history = []
        for t in range(turns):
            if time.monotonic() > stop_at:
                return
            try:
                turn = chat_turn(chat, None, history, QUESTIONS[(i + t) % len(QUESTIONS)], system="",
                                 max_new_tokens=max_new_tokens)
            except Phi3nbError as e:
                with lock:
                    errors.append(str(e))
                continue
            with lock:
                tokens[0] += turn.tokens
                if turn.first_token_at is not None:
                    ttfts.append((turn.first_token_at - turn.started) * 1000)

    started = time.perf_counter()
    threads = [threading.Thread(target=attendee, args=(i,), name=f"attendee-{i}") for i in range(attendees)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(max(0.0, stop_at - time.monotonic()) + 60)
    wall = time.perf_counter() - started
    return {"attendees": attendees, "turns_done": len(ttfts), "turns_asked": attendees * turns,
            "ttft_ms_p50": percentile(ttfts, 50), "ttft_ms_p95": percentile(ttfts, 95),
            "tokens": tokens[0], "aggregate_tok_s": tokens[0] / wall if wall > 0 else None,
            "wall_s": wall, "errors": len(errors), "error_messages": sorted(set(errors))[:5],
            "mean_ttft_ms": statistics.fmean(ttfts) if ttfts else None}


def format_room(rows) -> str:
    """A table of room runs, one line per room size."""
    lines = ["| attendees | turns done | TTFT p50 ms | TTFT p95 ms | tokens/s (all) | errors |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p50 = f"{r['ttft_ms_p50']:.0f}" if r["ttft_ms_p50"] is not None else "-"
        p95 = f"{r['ttft_ms_p95']:.0f}" if r["ttft_ms_p95"] is not None else "-"
        rate = f"{r['aggregate_tok_s']:.1f}" if r["aggregate_tok_s"] else "-"
        lines.append(f"| {r['attendees']} | {r['turns_done']}/{r['turns_asked']} | {p50} | {p95} | {rate} | "
                     f"{r['errors']} |")
    return "\n".join(lines)
