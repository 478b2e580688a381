"""Execution: launching and supervising experiment subprocesses, the worker pool, git capture."""
