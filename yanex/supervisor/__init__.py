"""One experiment's process supervised to its recorded outcome, and the executor contract.

The layer both sides of a batch build on: the runner (``yanex run``, the local pool and inline
executor, the batch) and the cluster executors (``yanex.executors``). ``launch`` runs a script and
records how it ended, ``journal`` pumps its metrics into the database, ``reaper`` kills what it
leaves behind, ``executor`` is what a batch asks of whatever runs its experiments. It imports
neither of the layers above it: the arrows go ``runner -> executors -> supervisor -> store -> db``.
"""
