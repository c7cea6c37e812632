"""Step 1: a Hugging Face model into an OpenVINO folder that is whole or absent, with the user's consent.

convert.py runs the export (optimum-intel's, as the cookbook's optimum-cli line); options.py and presets.py say
what is asked for; source_config.py and trust.py read the source and ask before its code runs; fit.py checks
memory and disk first; folder/ is the transaction (a lock, a write aside, a swap, the finished folder's check);
preconverted.py and embedded.py are the two models that need no conversion here.
"""
