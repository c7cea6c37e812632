"""`phi3nb bench --full-size`: Phi-3-mini's full-size stand-in through every engine, each step in a fresh process.

prepare.py makes the stand-in, exports and GGUF; plan.py says how long a run will take; worker.py is one step in
its own process; run.py drives the rounds; merge.py and report.py turn them into the JSON and its table.
"""
