"""Random-weight stand-ins with the Phi models' real tokens and shapes, for the tests and the bench (the product
never imports them): phi3_tokens.py (ids, template, tokenizer), phi3_random.py (full-size or sliced Phi-3)."""
