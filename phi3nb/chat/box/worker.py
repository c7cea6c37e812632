"""One reply of the chat box, run in a worker thread so the kernel stays free for Stop.

Whatever fails is shown in the transcript and the box stays usable; a typed message whose turn failed goes
back into the input box; a failed Regenerate puts back the reply it was to replace (the history still holds
it); a reply that ends after Clear lands nowhere.
"""

import time

from .html import status_html
from ..turn import chat_turn
from ...run.rope_switch import ticking
from ...errors import Phi3nbError

RENDER_EVERY = 0.05  # seconds between re-renders while streaming: smooth, without flooding the comm
GIVEN_BACK = "Your message is back in the box: press Enter to send it again."


def run_reply(box, text, history, settings, epoch, stop_event, asked=None, *, replaced=None, waited=None):
    """Answer `text` after `history` into `box`'s transcript; `asked` is the user's bubble (None: regenerating
    `replaced`); `waited`: seconds the message waited for the model to load, for its stats line."""
    message = None
    try:
        message = box.replying = box.transcript.add("assistant", "")
        message.streaming = True
        message.render()
        turn = chat_turn(box.model, box.tokenizer, history, text, system=box.system, context=box.context,
                         on_text=_streamer(message), stop_event=stop_event, on_status=_status_line(box, stop_event),
                         **settings)
        message.text, message.streaming, message.stats = turn.reply, False, turn.stats()
        if waited is not None:
            message.stats += f" · waited {waited:.1f} s for the model to load"
        message.render()
        if epoch != box.epoch:
            return  # cleared meanwhile: this reply belongs to a transcript that is gone
        if turn.dropped:  # the note names whose window it was: the model's, or a chat server's
            box.transcript.add("note", turn.drop_note(), before=message)
        box.history, box.last_reply = history, message
    except Exception as e:  # noqa: BLE001 - any failure is shown; the box must stay usable
        box.last_error = e
        error = describe(e)
        if epoch == box.epoch and replaced is not None:
            box.transcript.replace(message, replaced)  # the turn the history still holds, shown again
            box.last_reply = replaced
        elif epoch == box.epoch and asked is not None and box.give_back(text):
            box.transcript.remove(asked, message)  # the failed turn leaves
            error += f" {GIVEN_BACK}"
        elif message is not None and not message.text:
            box.transcript.remove(message)
        elif message is not None:
            message.streaming = False
            message.render()
        if epoch == box.epoch:
            box.transcript.add("error", error)
    finally:
        box.reply_ended()


def describe(e) -> str:
    """An error as the transcript shows it: a Phi3nbError's own words, anything else with its type."""
    return (str(e) if isinstance(e, Phi3nbError) else f"{type(e).__name__}: {e}") or type(e).__name__


def _streamer(message):
    """on_text for chat_turn: each piece joins the reply, re-rendered at most every RENDER_EVERY seconds."""
    last = [0.0]

    def on_piece(piece):
        message.text += piece
        if time.perf_counter() - last[0] >= RENDER_EVERY:
            last[0] = time.perf_counter()
            message.render()

    return on_piece


def _status_line(box, stop_event):
    """on_status for chat_turn: while a LongRoPE model re-reads the conversation at its switch (a Recompute,
    seconds to minutes), the status line says so with its clock, refreshed each second; cleared when done.
    Stop pressed meanwhile cannot cut the re-read short: the line says the reply stops once it is done."""
    def show(work):
        stopping = " · stopping at the reply's first word" if stop_event.is_set() else ""
        box.status.value = status_html(work.status() + stopping)

    def clear(work):
        box.status.value = ""

    return ticking(show, clear)
