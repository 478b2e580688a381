"""Pictures of metric curves: sparklines and braille plots for the terminal (standard library), and
image files through matplotlib (the ``plot`` extra), loaded only by ``yanex plot``."""
