"""Where an experiment ran: interpreter, platform, host, yanex version."""

from __future__ import annotations

import os
import platform
import socket

from yanex.specs import EnvironmentInfo
from yanex.store.experiments import Owner
from yanex.version import __version__


def capture_environment() -> EnvironmentInfo:
    return EnvironmentInfo(
        python_version=platform.python_version(),
        platform=platform.platform(),
        hostname=socket.gethostname(),
        yanex_version=__version__,
    )


def this_process() -> Owner:
    return Owner(host=socket.gethostname(), pid=os.getpid())
