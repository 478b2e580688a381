"""The package's version, in a module of its own: code below the public API (the environment a
row records) reads it without importing the ``yanex`` package's facade."""

__version__ = "0.1.0"
