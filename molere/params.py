"""Reading `params.yaml`: typed access by dotted key, with one-line errors for missing or mistyped
keys, and command-line overrides layered on top."""

from __future__ import annotations

import copy
import re
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
        if not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "not found (run from the project root)"
            raise MolereError(f"params file {path} {what}")
        try:
            data = parse_yaml(path.read_text(), str(path)) or {}
        except UnicodeDecodeError:
            raise MolereError(f"params file {path} is not text") from None
        if not isinstance(data, dict):
            raise MolereError(f"malformed {path}: expected a mapping at the top level")
        return cls(data, str(path))

    def get(self, key: str, kind: type | tuple = object, default: Any = _MISSING) -> Any:
        self.check_declared(self.prefix + key)
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

    def declares(self, key: str) -> bool:
        """Whether dotted `key` may be read: it is or lies inside a declared key."""
        return self.declared is None or any(_nested(key, d) for d in self.declared)

    def check_declared(self, key: str) -> None:
        if not self.declares(key):
            raise MolereError(f"{self.owner} reads params key {key!r} but declares only {', '.join(self.declared)}")

    def override(self, key: str, value: Any) -> "Params":
        """Set `key` (dotted) in place, null included (`-S key=null`)."""
        _set(self.data, key, value, self.source)
        return self


def _set(data: dict, key: str, value: Any, source: str = "params") -> None:
    *parents, leaf = key.split(".")
    for depth, part in enumerate(parents):
        data = data.setdefault(part, {})
        if not isinstance(data, dict):
            parent = ".".join(parents[: depth + 1])
            raise MolereError(f"cannot set {key}: {source} has {parent} = {data!r}, not a mapping of keys")
    data[leaf] = value


class _Loader(yaml.SafeLoader):
    """YAML as people write params: `1e-3` is a float (YAML 1.1 reads it as a string), and a key
    written twice in one mapping is an error, not the last one silently winning."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, source: str):
    """`text` parsed by `_Loader`; a syntax error is one line with its line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise MolereError(f"malformed {source}{where}: {err.problem or err.context}") from None
    except yaml.YAMLError as err:
        raise MolereError(f"malformed {source}: {str(err).splitlines()[0]}") from None


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
