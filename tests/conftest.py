import os

# DVC must never phone home from tests.
os.environ["DVC_NO_ANALYTICS"] = "1"
