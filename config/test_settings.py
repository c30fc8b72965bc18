"""config.settings with a var/ of the suite's own, so a bare `pytest` shares no queue with `make run`'s worker."""

import os
from pathlib import Path

os.environ.setdefault("REPRISE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "pytest"))

from config.settings import *  # noqa: F403
