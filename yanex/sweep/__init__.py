"""Sweeps: one parameter's values written as an expression (``grammar``), a definition expanded
into points (``expand``), a plan of specs stored with its batch (``plan``), the Python API
(``api``) and finishing a sweep's missing points (``resume``)."""
