import os
import sys
from pathlib import Path

from molere.portable import apply_portable

# DVC must never phone home from tests.
os.environ["DVC_NO_ANALYTICS"] = "1"
# The tests run as the study does by default, in portable mode, whose variables torch and numpy
# read when they load: so here, before any test module imports them. It also sets one thread per
# process: on a 2-core machine, torch's default of one thread per core makes the test processes
# (pytest and the `dvc repro` it starts) fight for the cores.
apply_portable(True)
# Stage commands (`molere-bench ...`, `dvc ...`) resolve as under `make repro`, whose PATH starts
# with the environment's bin/, even when pytest is started as .venv/bin/pytest without it.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
