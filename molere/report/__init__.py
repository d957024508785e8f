"""Evaluation and reporting over a study's runs: reading and checking run directories
(`runs`), per-scenario evaluation tables (`evaluation`), aggregation over seeds (`aggregate`),
the paper's claims tested (`claims`), figures (`figures`) and the Markdown report (`markdown`).
Plotting is imported only by `figures`, so the rest stays light."""
