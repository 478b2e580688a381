"""The command line: one module per command, assembled in ``app.py``. Parse, call the store, render."""
