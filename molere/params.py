"""Reading `params.yaml`: typed access by dotted key, with one-line errors for missing or mistyped
keys, and command-line overrides layered on top."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import yaml

from molere.errors import MolereError

_MISSING = object()
_ABSENT = object()


class Params:
    """A nested mapping read from params.yaml; `get("train.epochs", int)` checks the type."""

    def __init__(
        self, data: dict, source: str = "params.yaml", prefix: str = "", declared: tuple | None = None, owner: str = ""
    ):
        self.data = data
        self.source = source
        self.prefix = prefix  # the dotted path of this section, for messages
        self.declared = declared  # the only dotted keys one may read (None: any), and who declared them
        self.owner = owner

    @classmethod
    def load(cls, path: str | Path = "params.yaml") -> "Params":
        path = Path(path)
        if not path.exists():
            raise MolereError(f"params file {path} not found (run from the project root)")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise MolereError(f"malformed {path}: {str(err).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise MolereError(f"malformed {path}: expected a mapping at the top level")
        return cls(data, str(path))

    def get(self, key: str, kind: type | tuple = object, default: Any = _MISSING) -> Any:
        self._check_declared(self.prefix + key)
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                if default is not _MISSING:
                    return default
                raise MolereError(f"{self.source}: missing key {self.prefix + key!r}")
            node = node[part]
        if not _is_kind(node, kind):
            names = "/".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise MolereError(f"{self.source}: {self.prefix + key} = {node!r} should be of type {names}")
        return node

    def copy(self) -> "Params":
        """An independent copy (overrides on it leave this one alone)."""
        return Params(copy.deepcopy(self.data), self.source, self.prefix, self.declared, self.owner)

    def section(self, key: str) -> "Params":
        return Params(self.get(key, dict), self.source, f"{self.prefix}{key}.", self.declared, self.owner)

    def restricted(self, keys: Iterable[str], owner: str) -> "Params":
        """Only `keys` (dotted) of these params: reading any other key, a parent of a declared one
        included, is an error that names `owner`, so nothing can depend on a key that its owner
        does not declare."""
        data: dict = {}
        for key in keys:
            value = self.get(key, object, _ABSENT)
            if value is not _ABSENT:
                _set(data, key, copy.deepcopy(value))
        return Params(data, self.source, declared=tuple(keys), owner=owner)

    def _check_declared(self, key: str) -> None:
        if self.declared is not None and not any(_nested(key, d) for d in self.declared):
            raise MolereError(f"{self.owner} reads params key {key!r} but declares only {', '.join(self.declared)}")

    def override(self, key: str, value: Any) -> "Params":
        """Set `key` (dotted) in place when `value` is not None; CLI options use this."""
        if value is not None:
            _set(self.data, key, value)
        return self


def _set(data: dict, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[leaf] = value


def _nested(key: str, outer: str) -> bool:
    """Whether dotted `key` is `outer` or lies inside it."""
    return key == outer or key.startswith(outer + ".")


def _is_kind(value: Any, kind: type | tuple) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if bool not in kinds and isinstance(value, bool):
        return object in kinds  # YAML `true` is not a number
    if float in kinds and isinstance(value, int):
        return True  # `lr: 1` is a fine float
    return isinstance(value, kinds)
