import os

# DVC must never phone home from tests.
os.environ["DVC_NO_ANALYTICS"] = "1"
# One thread per process: on a 2-core machine, torch's default of one thread per core makes the
# test processes (pytest and the `dvc repro` it starts) fight for the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
