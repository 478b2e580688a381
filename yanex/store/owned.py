"""Which open rows this store's processes answer for: not those ``yanex import`` brought.

An imported row that is still open (created, queued or running) was open in the store it came
from, whose processes own it: its owner columns name a process of that store, which never writes
here. So no process of this store settles it as dead, and a later import brings its final state
(``yanex.store.importing``). A batch is imported with its experiments and is ended the same way:
one that has an imported experiment is left to imports. (A batch's experiments all come from
the store that ran it: resuming an imported sweep runs a new batch.)
"""

from __future__ import annotations

# Conditions on ``experiments`` and on ``batches`` (SQL text of ours, never user input).
EXPERIMENT_OWNED_HERE = "experiments.imported_at IS NULL"
BATCH_OWNED_HERE = (
    "NOT EXISTS (SELECT 1 FROM experiments AS member WHERE member.batch_id = batches.id "
    "AND member.imported_at IS NOT NULL)"
)
