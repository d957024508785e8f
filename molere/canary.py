"""The project's canary: does this machine compute what the default study computes with the same
bits as the machines whose records are committed in `canary/`? (docs/reproducibility.md)

One hash per computation, each a kind of work the study's stages do: numpy's products and
transcendental functions (the noise draw), and with torch the 1-D CNN's forward, backward and
forward-mode JVP (the hypergradient), the meta-network and MOLERE's splitter, softmax and cross
entropy, and a short training run with the study's fused Adam. `molere-bench verify --canary`
runs them in a fresh process in portable mode (its variables must be in place before torch and
numpy load) and compares them with every record; `--save` adds this machine's record.

This module imports torch and numpy only inside `computations`, which runs in that process."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from molere.portable import portable_environment

RECORDS = Path("canary")


def computations() -> dict[str, str]:
    """Every computation's hash, in this process (portable mode's environment already set)."""
    import numpy as np
    import torch
    import torch.autograd.forward_ad as fwAD

    from molere.meta_nets import make_meta_net
    from molere.models import MODELS
    from molere.splitter import Splitter
    from molere.train.config import TrainConfig
    from molere.train.optim import make_optimizer
    from molere.train.steps import cross_entropy
    from molere.train.tensors import reproducible_torch

    reproducible_torch(True)
    out: dict[str, str] = {}
    rng = np.random.default_rng(0)
    a = rng.standard_normal((257, 129))
    out["numpy.matmul"] = _digest(a @ rng.standard_normal((129, 65)))
    out["numpy.exp_log"] = _digest(np.exp(a) + np.log1p(np.abs(a)))

    x = torch.from_numpy(rng.standard_normal((128, 40)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 10, 128))
    torch.manual_seed(0)
    model = MODELS.get("cnn1d")((40,), 10)
    logits = model(x)
    out["cnn1d.forward"] = _digest(logits)
    out["softmax_cross_entropy"] = _digest(torch.softmax(logits, 1), cross_entropy(logits, y))
    out["cnn1d.backward"] = _digest(*torch.autograd.grad(cross_entropy(logits, y).mean(), list(model.parameters())))
    out["cnn1d.jvp"] = _digest(_jvp(model, x, fwAD))

    losses = cross_entropy(logits, y).detach()
    meta_net = make_meta_net((40,), 10)
    torch.nn.init.normal_(meta_net.head[-1].weight)  # its zero-initialised last layer would hide the rest
    weights = meta_net(x, y, logits.detach(), losses)
    out["meta_net.forward_backward"] = _digest(weights, *torch.autograd.grad(weights.sum(), list(meta_net.parameters())))
    splitter = Splitter(40, 10, delta=0.1)
    split = splitter(x, y)
    out["splitter.forward_backward"] = _digest(split, *torch.autograd.grad(split.sum(), list(splitter.parameters())))

    data = torch.from_numpy(rng.standard_normal((1024, 40)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 10, 1024))
    optimizer = make_optimizer(model.parameters(), TrainConfig())
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        index = torch.randint(0, 1024, (128,), generator=generator)
        optimizer.zero_grad()
        cross_entropy(model(data[index]), labels[index]).mean().backward()
        optimizer.step()
    out["cnn1d.adam_60_steps"] = _digest(*model.parameters())
    return out


def _jvp(model, x, fwAD):
    """The network's output along a fixed direction in parameter space (the hypergradient's JVP)."""
    import torch

    params = dict(model.named_parameters())
    with fwAD.dual_level():
        duals = {name: fwAD.make_dual(p.detach(), torch.full_like(p, 1e-3)) for name, p in params.items()}
        return fwAD.unpack_dual(torch.func.functional_call(model, duals, (x,))).tangent


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for array in arrays:
        h.update((array.detach().contiguous().numpy() if hasattr(array, "detach") else array).tobytes())
    return h.hexdigest()[:16]


def machine() -> dict[str, str]:
    """This machine in words: the CPU's model name, vendor and widest vector extension."""
    info = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(info.get("flags", "").split())
    widest = next((f for f in ("avx512f", "avx2", "sse4_2") if f in flags), "none")
    return {"cpu": info.get("model name", platform.processor() or "unknown"), "vendor": info.get("vendor_id", "unknown"),
            "widest_vectors": widest, "arch": platform.machine()}


def run() -> dict:
    """This machine's record: `computations` in a fresh interpreter under portable mode."""
    env = {**os.environ, **portable_environment(True)}
    code = "import json, molere.canary as c; print(json.dumps(c.computations()))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return {"machine": machine(), "hashes": json.loads(result.stdout.strip().splitlines()[-1])}


@dataclass(frozen=True)
class Comparison:
    record: str  # the record's file name
    cpu: str
    differing: list[str]  # computations whose hash differs (or that one side lacks)


def compare(mine: dict, records: dict[str, dict]) -> list[Comparison]:
    out = []
    for name, record in sorted(records.items()):
        theirs, ours = record["hashes"], mine["hashes"]
        differing = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        out.append(Comparison(name, record["machine"]["cpu"], differing))
    return out


def load_records(folder: Path = RECORDS) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def record_name(record: dict) -> str:
    """A file name for a record: the CPU's model in lower case, its widest vectors."""
    words = re.sub(r"[^a-z0-9]+", "-", re.sub(r"\(r\)|\(tm\)", "", record["machine"]["cpu"].lower())).strip("-")
    return f"{words}-{record['machine']['widest_vectors']}.json"
