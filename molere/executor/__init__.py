"""`molere-bench repro`: the out-of-date part of the DVC pipeline, run in parallel on Ray.

DVC decides what runs and records what ran (`dvcrepo`), Ray runs it (`cluster`, `worker`), the
scheduler ties them together (`scheduler`), and the `execution` section of params.yaml says
what each stage reserves (`settings`). Plain `dvc repro` keeps working: it runs the same stages
one at a time and records them the same way."""
