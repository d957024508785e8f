"""Fingerprints of what each pipeline stage depends on besides its input artifacts: the code it
runs and the params it reads.

A stage's code is the project modules it runs, found from the source (nothing is imported): the
closure of its module `stages/<stage>.py` and of the command-line entry point (ENTRY_POINT,
`molere/cli.py`) under

- import statements, at a module's top or inside its functions (stages and the library import
  lazily, to keep torch out of `--help`): `import a.b`, `from a import b` (the module `a.b` where
  there is one, else `a`), relative imports. Only the project's packages (`molere`, `stages`) are
  followed, and only Python modules count;
- the packages above a module (importing `a.b.c` runs `a/__init__.py` and `a/b/__init__.py`);
- registry scans: a `Registry(..., package="p")` call counts as importing every module directly in
  `p`, as the registry does when first asked for an entry (`p` must be a string literal, or the
  stage stops). So adding a model or a dataset file changes the fingerprints of the stages that
  use that registry;
- except the scan of the method zoo (METHOD_ZOO, `molere.methods.zoo`): a stage trains only the
  methods whose params section it declares in STAGE_PARAMS (`train` its cell's method, `erm` and
  `rank` `methods.erm`), so it counts only their modules (the zoo module that registers the name,
  `register("<name>")`, and what that imports), not the other methods. Adding a method file
  therefore changes no fingerprint until the method joins `study.methods`, and editing one changes
  only its `train` fingerprint.

Editing `stages/report.py` or `molere/report/markdown.py` so changes only the report's fingerprint.
Dynamic imports (`importlib`) are not seen; the project has two, the registry's scan and the entry
point's dispatch to a stage's module, which is the root already.

The entry point is part of every stage's code, since every stage runs through it: it parses the
command line and hands the stage the params it declares (`declared_params`, in this module). Only
its module-level imports count: an import inside one of its commands is that command's (its
stage's module, or the benchmark tools), and following them would make every stage depend on
every other.

A stage's params are the keys STAGE_PARAMS declares, and the stage is handed only those
(`declared_params`): a key it reads without declaring is an error, not a change that would go
unnoticed.

The `fingerprint` stage is the only one that reads the code and params.yaml. It writes one small
JSON file per stage (per method for `train`) and each stage depends on its own, so DVC checks one
file per stage instead of walking the library and parsing params.yaml once per stage: together
those were over half of a `dvc repro` with nothing changed (README, "The pipeline")."""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from molere.errors import MolereError, check_choice
from molere.methods import METHODS
from molere.params import Params

# The params keys each stage reads; `{method}` is the train stage's method.
# Every stage also reads `execution.portable`: it picks the kernels of torch, numpy and their
# BLAS libraries (molere/portable.py), and so the bits of every float a stage computes.
PORTABLE = "execution.portable"
STAGE_PARAMS = {
    "prepare": ("data", "noise", "ood", PORTABLE),
    "corrupt": ("noise", PORTABLE),
    "erm": ("model", "train", "methods.erm", PORTABLE),
    "rank": ("rank", "model", "train", "methods.erm", PORTABLE),  # cross-fit trains ERM fold models
    "valsets": ("valsets", PORTABLE),
    # a trial draws from the search spaces with study.seed; `replicate` runs the same code on the
    # same keys (the values it trains with come from selected.json), so it shares this fingerprint
    "train": ("model", "train", "methods.{method}", "search.train", "search.methods.{method}", "study.seed", PORTABLE),
    "select": ("study.trials", "study.selection", PORTABLE),
    "evaluate": ("study.methods", "study.trusted_baselines", "study.search_seed", "study.seeds", "study.trials", "study.selection", PORTABLE),  # not the scenarios
    "report": ("study", "claims", PORTABLE),
}
PIPELINE_STAGES = tuple(STAGE_PARAMS)
# DVC stages that run another stage's code on its keys, so they share its fingerprint
SAME_FINGERPRINT = {"replicate": "train", **{f"{stage}-search": stage for stage in ("corrupt", "erm", "rank", "valsets")}}
SAME_FINGERPRINT |= {"train-baseline": "train", "select-baseline": "select", "replicate-baseline": "train"}
PER_METHOD_STAGES = tuple(stage for stage, keys in STAGE_PARAMS.items() if any("{method}" in key for key in keys))
CODE_DIRS = ("molere", "stages")
ENTRY_POINT = "molere.cli"  # the module of the `molere-bench` command (pyproject.toml)
METHOD_ZOO = METHODS.package


def stage_params(stage: str, method: str | None = None) -> tuple[str, ...]:
    """The params keys `stage` reads (for `train`, with `method`'s own section)."""
    check_choice("pipeline stage", stage, PIPELINE_STAGES)
    if (stage in PER_METHOD_STAGES) != (method is not None):
        raise MolereError(f"stage {stage} {'needs a' if stage in PER_METHOD_STAGES else 'takes no'} method")
    return tuple(key.format(method=method) for key in STAGE_PARAMS[stage])


def declared_params(params: Params, stage: str, method: str | None = None) -> Params:
    """What `stage` may read of `params`: exactly the keys it declares."""
    return params.restricted(stage_params(stage, method), owner=f"stage {stage}")


def methods_trained(stage: str, method: str | None = None) -> list[str]:
    """The methods `stage` trains: those whose params section it declares (a method is trained on
    its `methods.<name>` section, so a stage can train no other)."""
    return [key.removeprefix("methods.") for key in stage_params(stage, method) if key.startswith("methods.")]


@dataclass
class Module:
    path: Path  # relative to the project root
    digest: bytes  # SHA-256 of the source
    imports: set[str] = field(default_factory=set)  # the project modules it imports anywhere
    top_imports: set[str] = field(default_factory=set)  # those outside its functions
    scans: set[str] = field(default_factory=set)  # the packages its registries scan
    registers: set[str] = field(default_factory=set)  # the names it registers


class CodeGraph:
    """The project's modules under `root` and what each imports, read once; the code of any stage."""

    def __init__(self, root: str | Path):
        root = Path(root)
        paths = {module_name(path.relative_to(root)): path.relative_to(root) for path in python_files(root)}
        self.modules = {name: read_module(root, path, name, set(paths)) for name, path in paths.items()}

    def submodules(self, package: str) -> list[str]:
        return [name for name in self.modules if name.rpartition(".")[0] == package]

    def method_module(self, method: str) -> str:
        """The module of the method zoo that registers `method`."""
        owners = {registered: name for name in self.submodules(METHOD_ZOO) for registered in self.modules[name].registers}
        return owners[check_choice("method", method, sorted(owners))]

    def stage_modules(self, stage: str, method: str | None = None) -> list[Module]:
        """The modules `stage` (training `method`, for `train`) runs, in path order: see the module
        docstring."""
        check_choice("pipeline stage", stage, PIPELINE_STAGES)
        trained = [self.method_module(name) for name in methods_trained(stage, method)]
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
                todo += trained if package == METHOD_ZOO else self.submodules(package)
        return sorted((self.modules[name] for name in found), key=lambda module: module.path.as_posix())

    def files(self, stage: str, method: str | None = None) -> list[Path]:
        """The files (relative to the root) of the modules `stage` runs."""
        return [module.path for module in self.stage_modules(stage, method)]

    def fingerprint(self, stage: str, method: str | None = None) -> str:
        """SHA-256 over the paths and the contents' SHA-256 of the stage's files (a rename changes it too)."""
        digest = hashlib.sha256()
        for module in self.stage_modules(stage, method):
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
    return module


def registry_package(call: ast.Call, path: Path) -> str | None:
    """The package a `Registry(kind, package)` call scans (None if it scans none)."""
    given = [k.value for k in call.keywords if k.arg == "package"] + call.args[1:2]
    if not given or (isinstance(given[0], ast.Constant) and given[0].value is None):
        return None
    if not (isinstance(given[0], ast.Constant) and isinstance(given[0].value, str)):
        raise MolereError(f"{path.as_posix()}:{call.lineno}: a Registry's package must be a string literal (the fingerprint stage reads it from the source)")
    return given[0].value


def stage_fingerprint(code: str, params: Params, stage: str, method: str | None = None) -> dict:
    """The stage's code fingerprint and the value of each params key it reads (None where absent)."""
    return {
        "stage": stage,
        "method": method,
        "code": code,
        "params": {key: params.get(key, object, None) for key in stage_params(stage, method)},
    }
