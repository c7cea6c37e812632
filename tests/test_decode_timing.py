"""decode_timing.TimedGenai: the replies phi3nb tune and the bench time have exactly the tokens asked for,
while load_genai's own model still ends a reply at the model's end-of-sequence id."""

import json
import shutil


def test_a_timed_reply_runs_past_the_end_of_sequence_and_a_chat_reply_stops(tiny_phi3_ov, tmp_path):
    from phi3nb.speed.timing import TimedGenai, decode_prompt
    from phi3nb.run.genai import load_genai

    timed = TimedGenai(tiny_phi3_ov)
    ids = timed.tokenizer(decode_prompt(tiny_phi3_ov), add_special_tokens=False)["input_ids"]
    first = timed.model.generate_ids(ids, [], {"max_new_tokens": 1, "do_sample": False})
    timed.close()
    assert len(first) == 1
    folder = shutil.copytree(tiny_phi3_ov, tmp_path / "eos-first")  # the same model, whose first reply token is its eos
    gen = json.loads((folder / "generation_config.json").read_text())
    (folder / "generation_config.json").write_text(json.dumps({**gen, "eos_token_id": first[0]}))

    chat = load_genai(folder, "CPU")
    assert chat.generate_ids(ids, [], {"max_new_tokens": 6, "do_sample": False}) == first  # its eos, then no more
    del chat
    timed = TimedGenai(folder)
    _, tpot, tokens, _ = timed.reply(ids, 6)
    timed.close()
    assert tokens == 6 and tpot > 0
