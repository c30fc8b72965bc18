"""The test suite's settings: config.settings with a var/ folder of the suite's own (its SQLite database, its
filesystem broker's queue, its logs).

A bare `pytest` beside `make run` shared var/ with the dev server: the dev worker took the tests' messages and the
suite's purge emptied the dev queue. `make test` and `make test-fast` name folders of their own (REPRISE_VAR_DIR), as
anything that sets it does; the workers and servers a test starts inherit it.
"""

import os
from pathlib import Path

os.environ.setdefault("REPRISE_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "pytest"))

from config.settings import *  # noqa: F403
