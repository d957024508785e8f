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


def json_bytes(obj) -> bytes:
    """`obj` as molere.io.write_json writes it."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def config_bytes(path: Path, drop: list[list[str]]) -> bytes:
    """The run's config.json without the `drop` keys (each split at its dots)."""
    config = json.loads(path.read_text())
    for *parents, key in drop:
        node = config
        for part in parents:
            node = node[part]
        node.pop(key)
    return json_bytes(config)


def file_bytes(path: Path, drop: list[list[str]]) -> bytes:
    return config_bytes(path, drop) if path.name == "config.json" else path.read_bytes()


def run_digest(directory: Path, drop: list[list[str]]) -> str:  # stages/select.py's digest, over the rebuilt files
    total = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        total.update(path.name.encode() + b"\0" + hashlib.sha256(file_bytes(path, drop)).digest())
    return total.hexdigest()


def rebuilt_md5(clone: Path, out: dict, drop: list[list[str]]) -> str:
    path = clone / out["path"]
    if path.name == "selected.json":
        selected = json.loads(path.read_text())
        selected["run_digest"] = run_digest(path.parent / "trials" / str(selected["trial"]), drop)
        return hashlib.md5(json_bytes(selected)).hexdigest()
    if path.is_file():
        return hashlib.md5(file_bytes(path, drop)).hexdigest()
    manifest = json.loads((clone / ".dvc/cache/files/md5" / out["md5"][:2] / out["md5"][2:]).read_text())  # a folder's: HASH.dir
    for entry in manifest:
        if entry["relpath"].endswith("config.json"):
            entry["md5"] = hashlib.md5(config_bytes(path / entry["relpath"], drop)).hexdigest()
    return hashlib.md5(json.dumps(manifest, sort_keys=True).encode()).hexdigest() + ".dir"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_lock", type=Path)
    parser.add_argument("clone", type=Path)
    parser.add_argument("--drop", action="append", default=[], help="a dotted key of config.json the newer code adds (repeatable)")
    args = parser.parse_args()
    drop = [key.split(".") for key in args.drop]
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
        elif {p: rebuilt_md5(clone, o, drop) for p, o in new_outs.items()} == old_outs:
            counts[kind]["same without train.workers"] += 1
        else:
            counts[kind]["DIFFERENT"] += 1
    for kind, count in counts.items():
        print(f"{kind:20s} " + ", ".join(f"{n} {what}" for what, n in count.items()))
    print(f"stages whose outputs differ: {sum(c['DIFFERENT'] for c in counts.values())} of {sum(sum(c.values()) for c in counts.values())}")


if __name__ == "__main__":
    main()
