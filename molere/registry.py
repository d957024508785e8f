"""Name -> factory registries filled by decorators, in the manner of timm's `register_model`."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, TypeVar

from molere.errors import check_choice

T = TypeVar("T")


class Registry(Generic[T]):
    """A named collection of factories. `@registry.register("name")` adds one."""

    def __init__(self, kind: str, package: str | None = None):
        self.kind = kind
        self.package = package
        self._loaded = package is None
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if isinstance(entry, type):
                entry.name = name  # the name is written once, here
            self._entries[name] = entry
            return entry

        return add

    def _load(self) -> None:
        # Each entry lives in its own module of `package`; importing them all fills the registry,
        # so adding an entry is adding one file. (molere.fingerprint finds these scans in the
        # source: keep `package=` a string literal.)
        if self._loaded:
            return
        package = importlib.import_module(self.package)
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{self.package}.{module.name}")
        self._loaded = True

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        self._load()
        return self._entries[check_choice(self.kind, name, self._entries)]

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._entries
