"""Fingerprints of what each pipeline stage depends on besides its input artifacts: the code it
runs and the params it reads.

A stage's code is the project modules it runs, found from the source (nothing is imported): the
closure of its module `stages/<stage>.py` and of the stage command line (ENTRY_POINT,
`molere/stage_cli.py`) under

- import statements, at a module's top or inside its functions (stages and the library import
  lazily, to keep torch out of `--help`): `import a.b`, `from a import b` (the module `a.b` where
  there is one, else `a`), relative imports. Only the project's packages (`molere`, `stages`) are
  followed, and only Python modules count;
- the packages above a module (importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`);
- registry scans by name: a `Registry(..., package="p")` call would import every module directly in
  `p` when first asked for an entry (`p` must be a string literal, or the stage stops), but a stage
  counts only the modules that register the entries it uses (`register("<name>")`, and what those
  import): the model of `model.name` and the dataset of `data.dataset` for a stage that declares
  those sections, the methods whose `methods.<name>` sections it declares (`train` its cell's
  method, `erm` and `rank` `methods.erm`), and no entry of a registry whose key it does not declare
  (NAMED_BY). An entry no module registers by a literal name counts the modules that register
  computed names (in a loop, as the torchvision datasets are); one that none can register stops the
  stage. So adding a model, dataset or method file changes no fingerprint until a
  stage uses it, and editing one changes only the fingerprints of the stages that use it.

Editing `stages/report.py` or `molere/report/markdown.py` so changes only the report's fingerprint.
Dynamic imports (`importlib`) are not seen; the project has two, the registry's scan and the entry
point's dispatch to a stage's module, which is the root already.

The entry point is part of every stage's code, since every stage runs through it: it parses the
command line and hands the stage the params it declares (`molere.pipeline.declared_params`). Only
its module-level imports count: an import inside a function is a stage's own (its module is the
root already). The user's commands (`molere/cli.py`: repro, verify, params, bench) are no part of
any stage: editing them re-runs nothing.

A stage's params are the keys its entry of molere/pipeline.py declares, and the stage is handed
only those: a key it reads without declaring is an error, not a change that would go unnoticed.

The `fingerprint` stage is the only one that reads the code and params.yaml. It writes one small
JSON file per stage (per method for `train`) and each stage depends on its own, so DVC checks one
file per stage instead of walking the library and parsing params.yaml once per stage: together
those were over half of a `dvc repro` with nothing changed (docs/design.md, the pipeline)."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from molere import pipeline
from molere.data import DATASETS
from molere.errors import MolereError, check_choice
from molere.methods import METHODS
from molere.models import MODELS
from molere.params import Params

CODE_DIRS = ("molere", "stages")
ENTRY_POINT = "molere.stage_cli"  # what every stage runs through: `molere-bench stage <name>`
# the registries' entries a stage uses: the methods its `methods.<name>` sections name, and the
# entry that a params key names if the stage declares that key's section (NAMED_BY)
NAMED_BY = {MODELS: "model.name", DATASETS: "data.dataset"}
KINDS = {registry.package: registry.kind for registry in (METHODS, MODELS, DATASETS)}  # for messages


def registry_names(params: Params, name: str, key: str | None = None) -> dict[str, list[str] | None]:
    """Registry package -> the entries stage `name` uses (None: it names one the source cannot
    tell, so every entry counts); a package the stage declares no key of maps to no entry. The
    entries' keys are read where the stage reads `model` and `data` (`embed`: in its embedding)."""
    keys = pipeline.stage_params(name, key)
    prefix = pipeline.stage(name).prefix(key)
    names: dict[str, list[str] | None] = {METHODS.package: [k.removeprefix("methods.") for k in keys if k.startswith("methods.")]}
    for registry, named_by in NAMED_BY.items():
        full = prefix + named_by
        declared = any(full.startswith(f"{k}.") for k in keys)
        names[registry.package] = named_entry(params, full) if declared else []
    return names


def named_entry(params: Params, key: str) -> list[str] | None:
    """The entry `key` names, or None where it names none the source can tell (absent, not a name)."""
    value = params.get(key, object, None)
    return [value] if isinstance(value, str) else None


@dataclass
class Module:
    path: Path  # relative to the project root
    digest: bytes  # SHA-256 of the source
    imports: set[str] = field(default_factory=set)  # the project modules it imports anywhere
    top_imports: set[str] = field(default_factory=set)  # those outside its functions
    scans: set[str] = field(default_factory=set)  # the packages its registries scan
    registers: set[str] = field(default_factory=set)  # the names it registers
    registers_computed: bool = False  # it registers names it computes (in a loop), which the source cannot tell


class CodeGraph:
    """The project's modules under `root` and what each imports, read once; the code of any stage."""

    def __init__(self, root: str | Path):
        root = Path(root)
        paths = {module_name(path.relative_to(root)): path.relative_to(root) for path in python_files(root)}
        self.modules = {name: read_module(root, path, name, set(paths)) for name, path in paths.items()}

    def submodules(self, package: str) -> list[str]:
        return [name for name in self.modules if name.rpartition(".")[0] == package]

    def registered(self, package: str, names: list[str] | None) -> list[str]:
        """The modules of registry `package` that register `names`: a name no module registers
        literally (`register("<name>")`) counts the modules that register computed names, and is
        an unknown entry if there are none; None counts every module."""
        modules = self.submodules(package)
        if names is None:
            return modules
        owners = {entry: name for name in modules for entry in self.modules[name].registers}
        computed = [name for name in modules if self.modules[name].registers_computed]
        unknown = [entry for entry in names if entry not in owners]
        if unknown and not computed:
            check_choice(KINDS.get(package, package), unknown[0], sorted(owners))  # raises: a name nothing registers
        found = {owners[entry] for entry in names if entry in owners}
        return sorted(found | set(computed) if unknown else found)

    def stage_modules(self, stage: str, names: dict[str, list[str] | None] | None = None) -> list[Module]:
        """The modules `stage` runs, in path order, using the registry entries `names` (package ->
        entries, from `registry_names`; a package it does not list: every entry): see the module
        docstring."""
        pipeline.stage(stage)  # a known stage, or a one-line error
        names = names or {}
        found: set[str] = set()
        todo = [f"stages.{stage}", ENTRY_POINT]
        while todo:
            name = todo.pop()
            if name in found or name not in self.modules:
                continue
            found.add(name)
            module = self.modules[name]
            todo += parent_packages(name)
            todo += module.top_imports if name == ENTRY_POINT else module.imports
            for package in module.scans:
                todo += self.registered(package, names.get(package))
        return sorted((self.modules[name] for name in found), key=lambda module: module.path.as_posix())

    def files(self, stage: str, names: dict[str, list[str] | None] | None = None) -> list[Path]:
        """The files (relative to the root) of the modules `stage` runs."""
        return [module.path for module in self.stage_modules(stage, names)]

    def fingerprint(self, stage: str, names: dict[str, list[str] | None] | None = None) -> str:
        """SHA-256 over the paths and the contents' SHA-256 of the stage's files (a rename changes it too)."""
        digest = hashlib.sha256()
        for module in self.stage_modules(stage, names):
            digest.update(module.path.as_posix().encode() + b"\0" + module.digest)
        return digest.hexdigest()


def python_files(root: Path) -> list[Path]:
    """The project's Python files (bytecode caches aside: Python writes them as a side effect)."""
    return [path for top in CODE_DIRS for path in sorted((root / top).rglob("*.py")) if "__pycache__" not in path.parts]


def module_name(path: Path) -> str:
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parent_packages(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def statements(body: list, in_function: bool):
    """(statement, whether it is inside a function) for every statement of `body`, nested ones too."""
    for node in body:
        yield node, in_function
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            yield from statements(getattr(node, block, []), inner)


def read_module(root: Path, path: Path, name: str, project: set[str]) -> Module:
    """The module at `path`: its digest, its imports of `project` modules, its registry scans and
    registrations, from its syntax tree."""
    source = (root / path).read_bytes()
    module = Module(path, hashlib.sha256(source).digest())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def imported(target: str, in_function: bool) -> None:
        if target in project:
            module.imports.add(target)
            if not in_function:
                module.top_imports.add(target)

    tree = ast.parse(source, str(path))
    for node, in_function in statements(tree.body, False):  # imports are statements
        if isinstance(node, ast.Import):
            for alias in node.names:
                imported(alias.name, in_function)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: `.` is the package, each further dot one level up
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            imported(base, in_function)
            for alias in node.names:
                imported(f"{base}.{alias.name}", in_function)  # `from package import module`
    if b"Registry(" in source or b"register(" in source:  # skip walking every expression of the others
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if callee == "Registry":
                    scanned = registry_package(node, path)
                    module.scans.update([scanned] if scanned else [])
                elif callee == "register" and node.args and isinstance(node.args[0], ast.Constant):
                    module.registers.add(node.args[0].value)
                elif callee == "register" and node.args:
                    module.registers_computed = True
    return module


def registry_package(call: ast.Call, path: Path) -> str | None:
    """The package a `Registry(kind, package)` call scans (None if it scans none)."""
    given = [k.value for k in call.keywords if k.arg == "package"] + call.args[1:2]
    if not given or (isinstance(given[0], ast.Constant) and given[0].value is None):
        return None
    if not (isinstance(given[0], ast.Constant) and isinstance(given[0].value, str)):
        raise MolereError(f"{path.as_posix()}:{call.lineno}: a Registry's package must be a string literal (the fingerprint stage reads it from the source)")
    return given[0].value


def stage_fingerprint(code: CodeGraph, params: Params, name: str, key: str | None = None) -> dict:
    """Stage `name`'s code fingerprint (its registry entries named by `params`) and the value of
    each params key it reads (None where absent); `key`: the method or embedding of a keyed stage."""
    return {
        "stage": name,
        "key": key,
        "code": code.fingerprint(name, registry_names(params, name, key)),
        "params": {spec: params.get(spec, object, None) for spec in pipeline.stage_params(name, key)},
    }
