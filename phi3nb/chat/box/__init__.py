"""The notebook's chat box (step 11), in ipywidgets: widget.py assembles the parts, one per file."""
