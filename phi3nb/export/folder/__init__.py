"""An export's folder as a transaction: one writer (lock.py), written aside and swapped in (swap.py), checked
before a load (model_dir.py)."""
