"""molere-bench: learned instance reweighting with hard validation sets.

Importing this package is cheap: torch is imported only by the modules that train models.
"""

__version__ = "0.1.0"
