"""Artifacts: files an experiment saves, stored once by content under ``$YANEX_HOME/blobs``.

Standard library only at import (experiment scripts load these modules): ``names`` checks what a
script may call an artifact, ``formats`` turns objects into files and back by extension, ``blobs``
stores content by SHA-256 and links it into each experiment's view, ``lines`` is the journal line
that records an artifact, ``script`` is what the run API calls, ``reading`` finds recorded
artifacts through the read-only sqlite3 path, and ``collect`` frees blobs no experiment refers to.
"""
