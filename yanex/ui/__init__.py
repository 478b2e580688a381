"""``yanex ui``: a local, read-only web view of the store (``yanex.ui.server``), one API module per
page (``runs``, ``experiment``) and the pages themselves in ``static/`` (plain JavaScript modules, no
build step; uPlot vendored under ``static/vendor/``). Imported only by the ``ui`` command."""
