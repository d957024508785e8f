"""Stage fingerprints: which code edits and which params changes change which stage's
fingerprint (the code from each stage's import graph, on a miniature project and on the real one),
what a stage may read of params, and that dvc.yaml uses the fingerprints."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import tomllib
import yaml

from molere.errors import MolereError
from molere.fingerprint import ENTRY_POINT, CodeGraph, registry_names
from molere.params import Params
from molere.pipeline import DVC_STAGES, FINGERPRINTED, declared_params, stage_params
from stages import fingerprint as fingerprint_stage

ROOT = Path(__file__).resolve().parents[1]

# A miniature project with every import form the graph follows. The stage command line (the entry
# point) imports the params module at its top and a stage inside its command; the user's command
# line mounts it and imports the benchmark tools inside a command.
MINIATURE = {
    "molere/__init__.py": "",
    "molere/stage_cli.py": "import sys\nfrom molere import params\n\n\ndef train():\n    from stages import train\n",
    "molere/cli.py": "from molere import stage_cli\n\n\ndef bench():\n    import molere.tools\n",
    "molere/params.py": "",
    "molere/tools.py": "",
    "molere/nested.py": "",
    "molere/registry.py": "class Registry:\n    pass\n",
    "molere/methods/__init__.py": 'from molere.registry import Registry\nMETHODS = Registry("method", package="molere.methods.zoo")\n',
    "molere/methods/shared.py": "",
    "molere/methods/zoo/__init__.py": "",
    "molere/methods/zoo/erm.py": 'from molere.methods import METHODS\n\n\n@METHODS.register("erm")\nclass ERM:\n    pass\n',
    "molere/methods/zoo/focal.py": 'from .. import METHODS\nfrom ..shared import loss\n\n\n@METHODS.register("focal")\nclass Focal:\n    pass\n',
    "molere/models/__init__.py": 'from molere import registry\nMODELS = registry.Registry("model", package="molere.models.zoo")\n',
    "molere/models/zoo/__init__.py": "",
    "molere/models/zoo/mlp.py": 'from molere.models import MODELS\n\n\n@MODELS.register("mlp")\ndef mlp():\n    pass\n',
    "molere/models/zoo/cnn.py": 'from molere.models import MODELS\n\n\n@MODELS.register("cnn")\ndef cnn():\n    pass\n',
    "molere/report/__init__.py": "",
    "molere/report/tables.py": "import numpy\n",
    "molere/report/markdown.py": "import molere.report.tables\n",
    "stages/__init__.py": "",
    "stages/paths.py": "",
    "stages/prepare.py": "from molere.models import zoo\n",
    "stages/corrupt.py": "",
    "stages/erm.py": "from . import paths\nimport molere.methods\n",
    "stages/rank.py": "import molere.methods.zoo.erm\n",
    "stages/valsets.py": "try:\n    pass\nexcept ImportError:\n    pass\nelse:\n    if True:\n        import molere.nested\n",
    "stages/train.py": "from molere.methods import METHODS\nfrom stages import paths\n\n\ndef run():\n    from molere.models import MODELS\n",
    "stages/select.py": "from stages import paths\n",
    "stages/evaluate.py": "class Reader:\n    def read(self):\n        from molere.report import tables\n",
    "stages/report.py": "from molere.report import markdown, tables\n",
    "stages/fingerprint.py": "import molere.tools\n",
}
EVERY_STAGE = ["molere/__init__.py", "molere/params.py", "molere/stage_cli.py", "stages/__init__.py"]
METHOD_REGISTRY = ["molere/methods/__init__.py", "molere/methods/zoo/__init__.py", "molere/registry.py"]
MODEL_REGISTRY = ["molere/models/__init__.py", "molere/models/zoo/__init__.py", "molere/registry.py"]  # no model


@pytest.fixture
def code(tmp_path):
    for name, text in MINIATURE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def names(stage: str, method: str | None = None, model: str = "mlp") -> dict:
    """The registry entries `stage` uses in a study on `model` (study_params)."""
    return registry_names(study_params(model__name=model), stage, method)


def study_fingerprints(root, methods=("erm", "focal"), model="mlp") -> dict:
    """The code fingerprint of every stage of a study of `methods` on `model`: `train/<method>` for
    train (the miniature has no embed stage, a study no embedding)."""
    graph = CodeGraph(root)
    return {
        f"{stage}/{method}" if method else stage: graph.fingerprint(stage, names(stage, method, model))
        for stage in FINGERPRINTED
        if stage != "embed"
        for method in (methods if stage == "train" else [None])
    }


def changed_by(root, edit, methods=("erm", "focal"), model="mlp") -> set:
    before = study_fingerprints(root, methods, model)
    edit(root)
    after = study_fingerprints(root, methods, model)
    return {name for name in before if before[name] != after[name]}


def append(path: str, text: str = "# edited\n"):
    def edit(root):
        with open(root / path, "a") as file:
            file.write(text)

    return edit


def add(path: str, text: str):
    def edit(root):
        (root / path).write_text(text)

    return edit


@pytest.mark.parametrize(
    "stage, method, files",
    [
        ("valsets", None, ["molere/nested.py", "stages/valsets.py"]),
        ("prepare", None, [*MODEL_REGISTRY, "stages/prepare.py"]),  # `from molere.models import zoo`
        ("erm", None, [*METHOD_REGISTRY, "molere/methods/zoo/erm.py", "stages/erm.py", "stages/paths.py"]),
        ("rank", None, [*METHOD_REGISTRY, "molere/methods/zoo/erm.py", "stages/rank.py"]),
        ("train", "erm", [*METHOD_REGISTRY, "molere/methods/zoo/erm.py", *MODEL_REGISTRY, "molere/models/zoo/mlp.py",
                          "stages/paths.py", "stages/train.py"]),
        ("train", "focal", [*METHOD_REGISTRY, "molere/methods/shared.py", "molere/methods/zoo/focal.py", *MODEL_REGISTRY,
                            "molere/models/zoo/mlp.py", "stages/paths.py", "stages/train.py"]),
        ("evaluate", None, ["molere/report/__init__.py", "molere/report/tables.py", "stages/evaluate.py"]),
        ("report", None, ["molere/report/__init__.py", "molere/report/markdown.py", "molere/report/tables.py", "stages/report.py"]),
    ],
)
def test_a_stage_runs_the_closure_of_its_imports(code, stage, method, files):
    # never: the user's command line and its tools, other stages, the other method, the unused model
    assert [p.as_posix() for p in CodeGraph(code).files(stage, names(stage, method))] == sorted({*EVERY_STAGE, *files})


def test_fingerprint_is_sha256_over_paths_and_contents(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages/valsets.py").write_bytes(b"x = 1\n")
    expected = hashlib.sha256(b"stages/valsets.py\0" + hashlib.sha256(b"x = 1\n").digest()).hexdigest()
    assert CodeGraph(tmp_path).fingerprint("valsets") == expected


EVERY_PIPELINE_STAGE = {"prepare", "corrupt", "erm", "rank", "valsets", "train/erm", "train/focal", "select", "evaluate", "report"}


@pytest.mark.parametrize(
    "edit, changed",
    [
        (append("stages/valsets.py"), {"valsets"}),
        (append("molere/methods/zoo/focal.py"), {"train/focal"}),
        (append("molere/methods/shared.py"), {"train/focal"}),
        (append("molere/methods/zoo/erm.py"), {"erm", "rank", "train/erm"}),
        (append("molere/report/markdown.py"), {"report"}),
        (append("molere/report/tables.py"), {"evaluate", "report"}),
        (append("molere/nested.py"), {"valsets"}),
        (append("molere/params.py"), EVERY_PIPELINE_STAGE),  # the entry point imports it at its top
        (append("molere/stage_cli.py"), EVERY_PIPELINE_STAGE),
        (append("molere/cli.py"), set()),  # the user's commands: no stage runs them
        (append("molere/models/zoo/mlp.py"), {"train/erm", "train/focal"}),  # the study's model
        (append("molere/models/zoo/cnn.py"), set()),
        (append("stages/__init__.py"), EVERY_PIPELINE_STAGE),
        (append("molere/registry.py"), {"prepare", "erm", "rank", "train/erm", "train/focal"}),
        (add("molere/methods/zoo/jtt.py", 'from molere.methods import METHODS\n\n\n@METHODS.register("jtt")\nclass JTT:\n    pass\n'), set()),
        (add("molere/models/zoo/resnet.py", 'from molere.models import MODELS\n\n\n@MODELS.register("resnet")\ndef resnet():\n    pass\n'), set()),
        (add("molere/report/unused.py", ""), set()),
    ],
)
def test_an_edit_changes_the_stages_that_import_it(code, edit, changed):
    assert changed_by(code, edit) == changed


def test_changing_the_model_a_stage_uses_changes_its_fingerprint(code):
    """The model registry counts the module of `model.name`: another model is other code."""
    assert study_fingerprints(code, model="cnn") != study_fingerprints(code, model="mlp")
    changed = {n for n, f in study_fingerprints(code, model="cnn").items() if f != study_fingerprints(code)[n]}
    assert changed == {"train/erm", "train/focal"}  # the stages of the miniature that build models
    assert changed_by(code, append("molere/models/zoo/cnn.py"), model="cnn") == {"train/erm", "train/focal"}


def test_an_entry_registered_under_a_computed_name_counts_the_modules_that_compute_names(code):
    add("molere/models/zoo/tv.py", 'from molere.models import MODELS\nfor name in ["vgg", "vit"]:\n    MODELS.register(name)(print)\n')(code)
    graph = CodeGraph(code)
    assert graph.registered("molere.models.zoo", ["vit"]) == ["molere.models.zoo.tv"]
    assert graph.registered("molere.models.zoo", ["mlp"]) == ["molere.models.zoo.mlp"]
    assert graph.registered("molere.models.zoo", None) == ["molere.models.zoo.cnn", "molere.models.zoo.mlp", "molere.models.zoo.tv"]
    assert graph.registered("molere.models.zoo", []) == []


def test_what_no_stage_runs_does_not_count(code):
    """The modules only the user's commands import (benchmark tools), the fingerprint stage's
    module, bytecode caches."""
    assert changed_by(code, append("molere/tools.py")) == set()
    assert changed_by(code, append("stages/fingerprint.py")) == set()
    (code / "molere/__pycache__").mkdir()
    (code / "molere/__pycache__/params.cpython-311.pyc").write_bytes(b"\x00bytecode")
    assert changed_by(code, add("molere/methods/zoo/stray.pyc", "\x00bytecode")) == set()


def test_a_rename_changes_the_fingerprint(code):
    renamed = changed_by(code, lambda root: (root / "molere/params.py").rename(root / "molere/params_.py"))
    assert renamed == EVERY_PIPELINE_STAGE  # the file is gone from every closure (its import no longer resolves)
    assert changed_by(code, lambda root: (root / "molere/tools.py").rename(root / "molere/tools2.py")) == set()


def test_a_registry_scan_is_read_from_a_string_literal(code):
    add("molere/models/__init__.py", 'from molere.registry import Registry\nMODELS = Registry("model", "molere.models.zoo")\n')(code)
    assert CodeGraph(code).files("prepare", names("prepare")) == [Path(p) for p in sorted({*EVERY_STAGE, *MODEL_REGISTRY, "stages/prepare.py"})]
    add("molere/models/__init__.py", 'from molere.registry import Registry\nZOO = "molere.models.zoo"\nMODELS = Registry("model", package=ZOO)\n')(code)
    with pytest.raises(MolereError, match=r"^molere/models/__init__.py:3: a Registry's package must be a string literal"):
        CodeGraph(code)


def test_unknown_stage_or_method_lists_the_choices(code):
    with pytest.raises(MolereError, match=r"unknown pipeline stage 'trian'; allowed: .*train"):
        CodeGraph(code).files("trian")
    with pytest.raises(MolereError, match=r"^unknown method 'fcoal'; allowed: erm, focal$"):
        CodeGraph(code).files("train", names("train", "fcoal"))
    with pytest.raises(MolereError, match=r"^unknown model 'mpl'; allowed: cnn, mlp$"):
        CodeGraph(code).files("train", names("train", "erm", model="mpl"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project's code, to edit."""
    root = tmp_path_factory.mktemp("project")
    for name in ["molere", "stages", "molere_tools"]:
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def project_copy(project, tmp_path):
    shutil.copytree(project, tmp_path, dirs_exist_ok=True)
    return tmp_path


STUDY_METHODS = yaml.safe_load((ROOT / "params.yaml").read_text())["study"]["methods"]
STUDY_MODEL = yaml.safe_load((ROOT / "params.yaml").read_text())["model"]["name"]
BUILT_ON_HYPERGRAD = {"train/lrw-random", "train/lrw-easy", "train/lrw-hard", "train/molere", "train/mwnet", "train/l2rw"}
NEW_METHOD = """from molere.methods import METHODS
from molere.methods.lrw import LRW


@METHODS.register("lrw-new")
class LRWNew(LRW):
    validation = "hard"
"""


@pytest.mark.parametrize(
    "edit, changed",
    [
        (add("molere/methods/zoo/lrw_new.py", NEW_METHOD), set()),
        (append("molere/methods/zoo/focal.py"), {"train/focal"}),
        (append("molere/report/markdown.py"), {"report"}),
        (append("molere/hypergrad.py"), BUILT_ON_HYPERGRAD),
        (append("molere_tools/meta_step.py"), set()),
        (append("molere/cli.py"), set()),  # the user's commands: repro, verify, params, bench
        (append("molere/executor/settings.py"), set()),
        (append("molere/fingerprint.py"), set()),  # only the fingerprint stage runs it
        (add("molere/models/zoo/unused.py", 'from molere.models import MODELS\n\n\n@MODELS.register("unused")\ndef unused():\n    pass\n'), set()),
        (append("molere/models/zoo/cnn1d.py"), {"erm", "rank", *(f"train/{m}" for m in STUDY_METHODS)}),  # the study's model
        (append("molere/models/zoo/resnet.py"), set()),
        (append("stages/report.py"), {"report"}),
    ],
)
def test_the_projects_own_edits_change_only_the_stages_that_import_them(project_copy, edit, changed):
    assert {"train/erm", "train/focal", "train/cvar-dro"} | BUILT_ON_HYPERGRAD <= {f"train/{m}" for m in STUDY_METHODS}
    assert changed_by(project_copy, edit, STUDY_METHODS, STUDY_MODEL) == changed


def embedding_study(**changes) -> Params:
    """The project's params with two embeddings: a ResNet-18 over CIFAR-10, an MLP over digits."""
    params = Params.load(ROOT / "params.yaml")
    params.override("embeddings", {
        "cifar-resnet": {"data": {"dataset": "cifar10"}, "model": {"name": "resnet18"}},
        "digits-mlp": {"data": {"dataset": "digits"}, "model": {"name": "mlp"}, "batch_size": 8},
    })
    for key, value in changes.items():
        params.override(key.replace("__", "."), value)
    return params


def test_each_embedding_has_a_fingerprint_of_its_backbone_dataset_and_keys(project_copy):
    before = written_fingerprints(project_copy, embedding_study())
    assert {name for name in before if name.startswith("embed/")} == {"embed/cifar-resnet.json", "embed/digits-mlp.json"}
    assert before["embed/digits-mlp.json"]["params"]["embeddings.digits-mlp"]["batch_size"] == 8
    changed = written_fingerprints(project_copy, embedding_study(**{"embeddings__digits-mlp__batch_size": 16}))
    assert {name for name in before if before[name] != changed[name]} == {"embed/digits-mlp.json"}
    append("molere/models/zoo/resnet.py")(project_copy)  # the one backbone's code
    edited = written_fingerprints(project_copy, embedding_study())
    assert {name for name in before if before[name] != edited[name]} == {"embed/cifar-resnet.json"}


def test_the_project_registries_and_entry_point_are_found(project):
    from molere.data import DATASETS
    from molere.methods import METHODS
    from molere.models import MODELS

    graph = CodeGraph(project)
    scans = {name: module.scans for name, module in graph.modules.items() if module.scans}
    assert scans == {"molere.data": {DATASETS.package}, "molere.methods": {METHODS.package}, "molere.models": {MODELS.package}}
    assert graph.registered(METHODS.package, ["cvar-dro"]) == ["molere.methods.zoo.cvar_dro"]
    assert graph.registered(DATASETS.package, ["cifar10"]) == ["molere.data.sources.images"]  # registered in a loop
    assert graph.registered(MODELS.package, ["cnn1d"]) == ["molere.models.zoo.cnn1d"]
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["molere-bench"] == "molere.cli:main"
    assert ENTRY_POINT == "molere.stage_cli"  # which the user's command line mounts as `stage`
    focal = {p.as_posix() for p in graph.files("train", registry_names(Params.load(ROOT / "params.yaml"), "train", "focal"))}
    assert {"molere/stage_cli.py", "molere/methods/zoo/focal.py", "molere/models/zoo/cnn1d.py", "molere/train/loop.py",
            "stages/common.py", "stages/train.py"} <= focal
    assert not {"molere/cli.py", "molere/methods/lrw.py", "molere/methods/zoo/erm.py", "molere/models/zoo/resnet.py",
                "molere/executor/settings.py", "molere_tools/meta_step.py", "stages/report.py"} & focal


def study_params(**changes) -> Params:
    """Every section a stage reads, for a study of two methods; `changes` sets dotted keys."""
    params = Params(
        {
            "study": {"scenarios": ["clean"], "methods": ["erm", "focal"], "search_seed": 0, "seeds": [1], "trials": [0, 1], "seed": 0, "selection": "selection"},
            "execution": {"portable": True},
            "data": {"seed": 0}, "noise": {"sd": 0.1}, "ood": {"severities": [1]},
            "model": {"name": "mlp"}, "train": {"epochs": 2},
            "rank": {"mode": "in-sample"}, "valsets": {"fraction": 0.1},
            "methods": {"erm": {}, "focal": {"gamma": 2.0}, "jtt": {"upweight": 6.0}},
            "search": {"methods": {"focal": {"gamma": {"distribution": "uniform", "low": 0, "high": 3}}}},
        }
    )
    for key, value in changes.items():
        params.override(key.replace("__", "."), value)
    return params


def written_fingerprints(root, params) -> dict:
    fingerprint_stage.run(params, root)
    return {p.relative_to(root / "fingerprints").as_posix(): json.loads(p.read_text()) for p in (root / "fingerprints").rglob("*.json")}


def test_the_stage_writes_one_file_per_stage_and_per_method_for_train(code):
    params = study_params()
    written = written_fingerprints(code, params)
    assert sorted(written) == ["corrupt.json", "erm.json", "evaluate.json", "prepare.json", "rank.json", "report.json",
                               "select.json", "train/erm.json", "train/focal.json", "valsets.json"]
    assert written["train/focal.json"] == {
        "stage": "train",
        "key": "focal",
        "code": CodeGraph(code).fingerprint("train", names("train", "focal")),
        "params": {
            "model": {"name": "mlp"},
            "train": {"epochs": 2},
            "methods.focal": {"gamma": 2.0},
            "search.train": None,
            "search.methods.focal": {"gamma": {"distribution": "uniform", "low": 0, "high": 3}},
            "study.seed": 0,
            "execution.portable": True,
        },
    }
    assert written["select.json"]["params"] == {"study.trials": [0, 1], "study.selection": "selection", "study.search_seed": 0,
                                                "execution.portable": True}
    assert written["train/erm.json"]["code"] == CodeGraph(code).fingerprint("train", names("train", "erm")) != written["train/focal.json"]["code"]
    assert written["valsets.json"]["params"] == {"valsets": {"fraction": 0.1}, "execution.portable": True}
    assert written["evaluate.json"]["params"] == {
        "study.methods": ["erm", "focal"], "study.trusted_baselines": None, "study.search_seed": 0, "study.seeds": [1],
        "study.trials": [0, 1], "study.selection": "selection", "execution.portable": True,
    }


def test_a_study_method_nothing_registers_stops_the_stage(code):
    with pytest.raises(MolereError, match=r"^unknown method 'fcoal'; allowed: erm, focal$"):
        fingerprint_stage.run(study_params(study__methods=["erm", "fcoal"]), code)


def test_train_declares_its_own_method_section_only():
    assert stage_params("train", "lrw-hard") == (
        "model", "train", "methods.lrw-hard", "search.train", "search.methods.lrw-hard", "study.seed", "execution.portable"
    )
    with pytest.raises(MolereError, match="stage train needs a method"):
        stage_params("train")
    with pytest.raises(MolereError, match="stage valsets takes no method or embedding"):
        stage_params("valsets", "erm")


@pytest.mark.parametrize(
    "change, changed",
    [
        ({"methods__focal__gamma": 1.0}, {"train/focal.json"}),
        ({"methods__jtt__upweight": 2.0}, set()),  # jtt is not in the study
        ({"train__epochs": 3}, {"erm.json", "rank.json", "train/erm.json", "train/focal.json"}),
        ({"methods__erm__x": 1}, {"erm.json", "rank.json", "train/erm.json"}),
        ({"data__seed": 1}, {"prepare.json"}),
        ({"study__seeds": [1, 2]}, {"evaluate.json", "report.json"}),  # dvc.yaml's matrix adds the new seed's stages
        ({"noise__sd": 0.2}, {"prepare.json", "corrupt.json"}),
        ({"study__scenarios": ["clean", "idn-40"]}, {"report.json"}),
        ({"study__trials": [0, 1, 2]}, {"select.json", "evaluate.json", "report.json"}),
        ({"model__name": "cnn"}, {"erm.json", "rank.json", "train/erm.json", "train/focal.json"}),
        ({"study__seed": 1}, {"train/erm.json", "train/focal.json", "report.json"}),  # the trials' draws
        ({"search__methods__focal__gamma": {"distribution": "fixed"}}, {"train/focal.json"}),
        # the kernels of torch, numpy and BLAS: the bits of every stage's floats
        ({"execution__portable": False}, {"prepare.json", "corrupt.json", "erm.json", "rank.json", "valsets.json", "train/erm.json",
                                          "train/focal.json", "select.json", "evaluate.json", "report.json"}),
        ({"execution__cpus_per_stage": 2, "execution__gpus_per_train": 0.5}, set()),  # how, not what
    ],
)
def test_a_params_change_changes_only_the_fingerprints_of_stages_that_read_it(code, change, changed):
    before = written_fingerprints(code, study_params())
    after = written_fingerprints(code, study_params(**change))
    assert {name for name in before if before[name] != after[name]} == changed


def test_a_stage_is_handed_only_the_keys_it_declares():
    params = declared_params(study_params(), "train", "focal")
    assert params.data == {
        "model": {"name": "mlp"},
        "train": {"epochs": 2},
        "methods": {"focal": {"gamma": 2.0}},
        "search": {"methods": {"focal": {"gamma": {"distribution": "uniform", "low": 0, "high": 3}}}},
        "study": {"seed": 0},
        "execution": {"portable": True},
    }
    assert params.get("methods.focal.gamma", float) == 2.0
    with pytest.raises(
        MolereError,
        match=r"^stage train reads params key 'data.seed' but declares only model, train, methods.focal, search.train, "
        r"search.methods.focal, study.seed, execution.portable$",
    ):
        params.get("data.seed", int, 0)  # a default is no way round the declaration
    with pytest.raises(MolereError, match=r"stage train reads params key 'methods.erm'"):
        params.get("methods.erm", dict, {})
    with pytest.raises(MolereError, match=r"stage train reads params key 'methods' but"):
        params.get("methods", dict)  # a parent would be the declared part of it, silently
    assert params.section("methods.focal").get("gamma", float) == 2.0


def test_every_dvc_stage_depends_on_its_own_fingerprint_and_reads_neither_code_nor_params():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(stages) == set(DVC_STAGES)
    assert stages["fingerprint"]["deps"] == ["molere", "stages"]
    assert stages["fingerprint"]["params"] == [{"params.yaml": None}]  # the whole file
    for name, runs in DVC_STAGES.items():
        if name == "fingerprint":
            continue
        deps = stages[name].get("do", stages[name])["deps"]
        shared = runs.fingerprint_of
        keyed = {"method": "${item.method}", "embedding": "${key}"}.get(runs.keyed_by)
        own = f"fingerprints/{shared}/{keyed}.json" if keyed else f"fingerprints/{shared}.json"
        assert own in deps, name
        assert not any(d in ("molere", "stages") or d.startswith("stages/") for d in deps), name
        assert "params" not in stages[name], name
