"""Running experiments: a batch (``run_multiple``, ``rerun``), ``yanex run``'s one script, the local
executors (the worker pool, inline), git capture. Built on ``yanex.supervisor``; a cluster batch
goes to ``yanex.executors``."""
