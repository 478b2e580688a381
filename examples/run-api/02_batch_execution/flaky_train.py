"""A training script that hits a transient fault (think: a preempted GPU node) on its first try.

The first run of each configuration fails; any later run of it succeeds. It remembers tries with a
marker file in the folder given by the ``marker_dir`` parameter.
"""

from pathlib import Path

import yanex

marker = Path(yanex.get_param("marker_dir")) / f"tried-{yanex.get_param('learning_rate')}"
if yanex.get_param("flaky", False) and not marker.exists():
    marker.touch()
    raise RuntimeError("CUDA error: the device was lost (simulated transient failure)")
yanex.log_metrics({"accuracy": 0.9})
print("trained")
