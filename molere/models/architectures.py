"""An architecture's name checked against a library's list (the `torchvision` and `timm` zoo entries)."""

from __future__ import annotations

import difflib

from molere.errors import MolereError


def check_arch(model: str, arch: str, names: list[str], listing: str) -> str:
    """`arch` if it is in `names`, else a one-line error naming it, the closest names and how to
    list them all (`listing`, a shell command)."""
    if arch in names:
        return arch
    if not arch:
        raise MolereError(f"model {model} needs model.arch, an architecture's name (e.g. {names[0]}); all {len(names)}: {listing}")
    close = difflib.get_close_matches(arch, names, n=3, cutoff=0.6)
    hint = f"close: {', '.join(close)}; " if close else ""
    raise MolereError(f"unknown model.arch {arch!r} for model {model}; {hint}all {len(names)}: {listing}")
