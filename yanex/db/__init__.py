"""Storage internals: engine and pragmas, ORM models, schema upgrades. Only ``yanex.store`` uses it."""
