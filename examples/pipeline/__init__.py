"""The train -> evaluate pipeline example (a package only so that type checkers tell its train.py
from the batch example's)."""
