"""Which stage outputs of a regenerated study equal an older dvc.lock's, once the keys the newer code
records in every run's config.json are taken out again: whether a regeneration on another machine,
or after a change that adds a training key, reproduced every model, prediction and report.

    git show HEAD~1:dvc.lock > /tmp/old.lock
    python benchmarks/same_outputs.py /tmp/old.lock /tmp/molere-verify-XXXX/study --drop train.workers

CLONE is a study `molere-bench verify --keep` regenerated (its dvc.lock and DVC cache). For each
stage whose output hashes differ from OLD_LOCK's, it rebuilds what the older code wrote: each
run's config.json without the `--drop` keys (as molere.io.write_json writes it), each
selected.json's run_digest over those files (stages/select.py), then DVC's folder manifest and
its MD5. It prints per kind of stage how many outputs are the same as written, the same once the
keys are dropped, or different; only the last says the regeneration computed other bits."""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
from pathlib import Path

import yaml

DROPPED: list[list[str]] = []  # the --drop keys, split at their dots


def config_bytes(path: Path) -> bytes:
    config = json.loads(path.read_text())
    for *parents, key in DROPPED:
        node = config
        for part in parents:
            node = node[part]
        node.pop(key)
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def file_bytes(path: Path) -> bytes:
    return config_bytes(path) if path.name == "config.json" else path.read_bytes()


def run_digest(directory: Path) -> str:  # stages/select.py's digest, over the rebuilt files
    total = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        total.update(path.name.encode() + b"\0" + hashlib.sha256(file_bytes(path)).digest())
    return total.hexdigest()


def rebuilt_md5(clone: Path, out: dict) -> str:
    path = clone / out["path"]
    if path.is_file():
        if path.name == "selected.json":
            selected = json.loads(path.read_text())
            trial = path.parent / "trials" / str(selected["trial"])
            selected["run_digest"] = run_digest(trial)
            return hashlib.md5((json.dumps(selected, indent=2, sort_keys=True) + "\n").encode()).hexdigest()
        return hashlib.md5(file_bytes(path)).hexdigest()
    h = out["md5"].removesuffix(".dir")
    manifest = json.loads((clone / ".dvc/cache/files/md5" / h[:2] / h[2:]).with_suffix(".dir").read_text())
    for entry in manifest:
        if entry["relpath"].endswith("config.json"):
            entry["md5"] = hashlib.md5(config_bytes(path / entry["relpath"])).hexdigest()
    return hashlib.md5(json.dumps(manifest, sort_keys=True).encode()).hexdigest() + ".dir"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_lock", type=Path)
    parser.add_argument("clone", type=Path)
    parser.add_argument("--drop", action="append", default=[], help="a dotted key of config.json the newer code adds (repeatable)")
    args = parser.parse_args()
    DROPPED.extend(key.split(".") for key in args.drop)
    old = yaml.safe_load(args.old_lock.read_text())["stages"]
    clone = args.clone
    new = yaml.safe_load((clone / "dvc.lock").read_text())["stages"]
    counts = collections.defaultdict(collections.Counter)
    for name, stage in old.items():
        kind = name.split("@")[0]
        if kind == "fingerprint":
            continue
        old_outs = {o["path"]: o["md5"] for o in stage.get("outs", [])}
        new_outs = {o["path"]: o for o in new[name].get("outs", [])}
        if {p: o["md5"] for p, o in new_outs.items()} == old_outs:
            counts[kind]["same as written"] += 1
        elif {p: rebuilt_md5(clone, o) for p, o in new_outs.items()} == old_outs:
            counts[kind]["same without train.workers"] += 1
        else:
            counts[kind]["DIFFERENT"] += 1
    for kind, count in counts.items():
        print(f"{kind:20s} " + ", ".join(f"{n} {what}" for what, n in count.items()))
    print(f"stages whose outputs differ: {sum(c['DIFFERENT'] for c in counts.values())} of {sum(sum(c.values()) for c in counts.values())}")


if __name__ == "__main__":
    main()
