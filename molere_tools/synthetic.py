"""A project of trivial stages shaped like a study, for the executor's benchmark and tests: what
is timed is the executor's own work, not training.

    scenarios: make-S writes the folder data/S (three files)
    cells:     work-S-K reads data/S and the param `data.seed`, writes out/S/K.txt (after
               sleeping `cell_seconds`, to hold its CPU that long; none by default)
    per scenario: sum-S reads the folder out/S (every cell's output), writes sums/S.txt
    report:    reads the folder sums, writes report.txt

Stages are spelled out one by one in dvc.yaml (no foreach), so the count is exact."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import yaml

from molere_tools.sandbox import ROOT, study_env

PARAM = "data.seed"  # a param every cell lists (params.yaml is the project's: the executor checks it)
STAGES_PER_SCENARIO = 100  # about as many cells per scenario as a study's scenario has


def pipeline(stages: int, cell_seconds: float = 0.0) -> dict:
    """dvc.yaml's content for exactly `stages` stages (at least 4)."""
    if stages < 4:
        raise ValueError(f"a synthetic project needs at least 4 stages, not {stages}")
    scenarios = max(1, min(math.ceil(stages / STAGES_PER_SCENARIO), (stages - 1) // 3))
    cells = stages - 2 * scenarios - 1
    out: dict[str, dict] = {}
    sleep = f"sleep {cell_seconds:g} && " if cell_seconds else ""
    for s in range(scenarios):
        out[f"make-s{s}"] = {
            "cmd": f"mkdir -p data/s{s} && for f in a b c; do echo s{s}-$f > data/s{s}/$f; done",
            "outs": [f"data/s{s}"],
        }
    for k in range(cells):
        s = k % scenarios
        out[f"work-s{s}-{k}"] = {
            "cmd": f"{sleep}mkdir -p out/s{s} && cat data/s{s}/a > out/s{s}/{k}.txt && echo {k} >> out/s{s}/{k}.txt",
            "deps": [f"data/s{s}"],
            "params": [PARAM],
            "outs": [f"out/s{s}/{k}.txt"],
        }
    for s in range(scenarios):
        out[f"sum-s{s}"] = {"cmd": f"mkdir -p sums && cat out/s{s}/* | wc -l > sums/s{s}.txt", "deps": [f"out/s{s}"], "outs": [f"sums/s{s}.txt"]}
    out["report"] = {"cmd": "cat sums/* > report.txt", "deps": ["sums"], "outs": ["report.txt"]}
    return {"stages": out}


def same_bytes(stages: int) -> dict:
    """dvc.yaml's content for `stages` independent stages that all write the same bytes: one cache
    object, which the run's workers commit side by side (molere/executor/sharedcache.py)."""
    return {"stages": {f"w{k}": {"cmd": f"mkdir -p out && echo same > out/{k}.txt", "outs": [f"out/{k}.txt"]} for k in range(stages)}}


def make_synthetic_repo(dest: Path, stages: int, cell_seconds: float = 0.0) -> Path:
    """A fresh git + DVC repository at `dest` holding the synthetic pipeline, committed."""
    return make_repo(dest, pipeline(stages, cell_seconds))


def make_repo(dest: Path, content: dict) -> Path:
    """A fresh git + DVC repository at `dest` whose dvc.yaml holds `content`, committed."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "dvc.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    shutil.copy(ROOT / "params.yaml", dest / "params.yaml")
    setup = (
        "git init -q && git config user.email study@molere && git config user.name study"
        " && dvc init -q && dvc config core.analytics false && git add -A && git commit -qm synthetic"
    )
    subprocess.run(setup, cwd=dest, env=study_env(), shell=True, check=True, capture_output=True)
    return dest


def upstream_stages(content: dict) -> dict[str, set[str]]:
    """For each stage of dvc.yaml's `content`, the stages whose outputs it reads: an output that is
    one of its dependencies, or a folder above or under one."""
    owner: dict[Path, str] = {}  # each output -> its stage
    under: dict[Path, set[str]] = {}  # each folder above an output -> the stages of the outputs under it
    for name, stage in content["stages"].items():
        for out in map(Path, stage.get("outs", [])):
            owner[out] = name
            for folder in out.parents:
                under.setdefault(folder, set()).add(name)

    def writers(dep: Path) -> set[str]:
        return {owner[path] for path in [dep, *dep.parents] if path in owner} | under.get(dep, set())

    return {name: set().union(*(writers(Path(dep)) for dep in stage.get("deps", []))) for name, stage in content["stages"].items()}


def commands_only(folder: Path, content: dict, cores: int) -> float:
    """Seconds to run the commands of dvc.yaml's `content` in `folder`, each in a shell as DVC runs
    it, on `cores` at once, a stage as soon as the stages it reads have run (in dvc.yaml's order
    among those ready): no DVC, no Ray, no bookkeeping. The floor an executor's cold build is held
    against: the commands' own time, their shells and programs included."""
    import concurrent.futures
    import heapq
    import time

    names = list(content["stages"])
    position = {name: k for k, name in enumerate(names)}
    upstream = upstream_stages(content)
    downstream: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        for before in upstream[name]:
            downstream[before].append(name)
    waiting = {name: len(upstream[name]) for name in names}
    ready = [k for k, name in enumerate(names) if not waiting[name]]  # a heap of positions in dvc.yaml
    running: dict[concurrent.futures.Future, str] = {}
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=cores) as pool:
        while ready or running:
            while ready and len(running) < cores:
                name = names[heapq.heappop(ready)]
                command = content["stages"][name]["cmd"]
                running[pool.submit(subprocess.run, command, shell=True, cwd=folder, check=True, capture_output=True)] = name
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                future.result()  # a failed command raises here
                for after in downstream[running.pop(future)]:
                    waiting[after] -= 1
                    if not waiting[after]:
                        heapq.heappush(ready, position[after])
    return time.perf_counter() - start
