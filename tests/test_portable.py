"""Portable mode: the same study gives the same bits on machines whose CPUs differ.

Two machines are simulated on this one by the parent environment of each run, which forces the
kernels of every library: "avx512" takes this CPU's AVX-512 kernels, "older" the least vectorised
ones each library offers (numpy and OpenBLAS without AVX2 too; MKL as an AVX2 machine runs it).
Portable mode must override all of that. Needs a CPU with AVX-512; skipped elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from molere.errors import MolereError
from molere.params import Params
from molere.portable import NUMPY_AVX512, apply_portable, is_x86, portable_environment, portable_setting
from molere_tools.sandbox import ROOT, make_study_repo, study_env

MACHINES = {
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512"},
    "older": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "OPENBLAS_CORETYPE": "Prescott",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    },
}
SCENARIO = "idn-40"  # its noise is drawn with numpy's exp and matrix products
METHODS = ["erm", "lrw-hard"]
SEARCH_SEED, SEED = 0, 1  # the study's search seed, its one replicate seed
DRAW_STAGES = ("corrupt", "erm", "rank", "valsets")  # per scenario x seed; `-search` for the search seed


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":")[1].split()}


needs_avx512 = pytest.mark.skipif(
    not (is_x86() and "avx512f" in cpu_flags()), reason="simulating an AVX-512 machine needs a CPU with AVX-512"
)


def machine_env(machine: str) -> dict:
    """The environment of a process started on `machine`: none of portable mode's variables (which
    conftest.py put in this one), that machine's kernel settings instead."""
    env = {k: v for k, v in study_env().items() if k not in portable_environment(True)}
    return {**env, **MACHINES[machine], "PYTHONPATH": str(ROOT)}


# --- the settings ----------------------------------------------------------------------------


@pytest.mark.skipif(not is_x86(), reason="the kernel pins are x86-64's")
def test_portable_environment_pins_every_library_and_off_pins_nothing():
    assert portable_environment(True) == {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "COMPATIBLE",
        "OPENBLAS_CORETYPE": "Haswell",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    assert portable_environment(False) == {}


def test_portable_mode_overrides_what_the_parent_set(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    apply_portable(True)
    assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    apply_portable(False)
    assert os.environ["OMP_NUM_THREADS"] == "8"


def test_the_setting_is_a_boolean_true_by_default():
    assert portable_setting(Params({})) is True
    assert portable_setting(Params({"execution": {"portable": False}})) is False
    expected = (
        r"^execution.portable = 'fast' is not allowed; allowed: true \(portable kernels, reproducible on any x86-64 "
        r"machine\), false \(this CPU's fastest kernels\)$"
    )
    with pytest.raises(MolereError, match=expected):
        portable_setting(Params({"execution": {"portable": "fast"}}))


@pytest.mark.parametrize("where", ["params.yaml", "-S", "repro"])
def test_an_unknown_value_is_a_one_line_error_before_anything_runs(tmp_path, where):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    args = [sys.executable, "-m", "molere.cli", "stage", "prepare", "--scenario", "clean"]
    if where == "-S":
        args += ["-S", "execution.portable=sometimes"]
    else:
        params["execution"]["portable"] = "sometimes"
    if where == "repro":  # in a DVC project: the check comes before any stage
        args = [sys.executable, "-m", "molere.cli", "repro"]
        subprocess.run("git init -q && dvc init -q", cwd=tmp_path, shell=True, check=True, env=study_env())
    before = sorted(p.name for p in tmp_path.iterdir())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    result = subprocess.run(args, cwd=tmp_path, env=machine_env("avx512"), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: execution.portable = 'sometimes' is not allowed; allowed: true (portable kernels, reproducible on any "
        "x86-64 machine), false (this CPU's fastest kernels)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "params.yaml"])  # nothing written


# --- the kernels, library by library ----------------------------------------------------------

KERNELS = """
import hashlib, json, sys
from molere.portable import apply_portable, unpinned_kernels
apply_portable(sys.argv[1] == "on")  # before torch and numpy load, as molere-bench does
import numpy as np, torch
from molere.train.tensors import reproducible_torch
reproducible_torch(sys.argv[1] == "on")

def digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]

rng = np.random.default_rng(0)
x64 = rng.normal(size=(300, 40))
x32 = torch.from_numpy(x64.astype(np.float32))
torch.manual_seed(0)
conv = torch.nn.Conv1d(1, 8, 5)
print(json.dumps({
    "aten": digest(torch.softmax(x32, 1).numpy()),
    "onednn": digest(conv(x32[:, None, :]).detach().numpy()),
    "mkl": digest((x32 @ x32.T).numpy()),
    "numpy": digest(np.exp(x64)),
    "openblas": digest(x64 @ x64.T),
    "unpinned": unpinned_kernels(),
}))
"""
# What each library says it runs, as its own reports print it: two machines whose reports agree
# run the same kernels, and their results must agree; where they disagree, without portable mode
# the results must differ (else the simulation simulates nothing).
REPORTS = """
import json, torch, numpy as np
from threadpoolctl import threadpool_info
from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
torch.backends.mkldnn.enabled = True
x = torch.ones(64, 64); x @ x  # MKL prints its banner on its first call
torch.nn.Conv1d(1, 4, 3)(torch.ones(8, 1, 20))  # and oneDNN its ISA
print(json.dumps({
    "aten": torch.backends.cpu.get_cpu_capability(),
    "numpy": sorted(k for k in __cpu_dispatch__ if __cpu_features__.get(k)),
    "openblas": [i.get("architecture") for i in threadpool_info() if i["internal_api"] == "openblas"],
}))
"""


def kernel_digests(machine: str, mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", KERNELS, mode], env=machine_env(machine), capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def kernel_reports(machine: str) -> dict:
    """Each library's own account of its kernels on `machine` (MKL's and oneDNN's verbose banners)."""
    env = {**machine_env(machine), "MKL_VERBOSE": "1", "ONEDNN_VERBOSE": "1"}
    result = subprocess.run([sys.executable, "-c", REPORTS], env=env, capture_output=True, text=True, check=True)
    lines = (result.stdout + result.stderr).splitlines()
    reports = json.loads(next(line for line in lines if line.startswith("{")))
    reports["mkl"] = next(line.split(" for ", 1)[1] for line in lines if line.startswith("MKL_VERBOSE oneMKL"))
    reports["onednn"] = next(line.split("isa:", 1)[1] for line in lines if "isa:" in line)
    return reports


@needs_avx512
def test_each_library_runs_the_same_kernels_on_both_machines_only_in_portable_mode():
    on = {machine: kernel_digests(machine, "on") for machine in MACHINES}
    off = {machine: kernel_digests(machine, "off") for machine in MACHINES}
    reports = {machine: kernel_reports(machine) for machine in MACHINES}
    assert on["avx512"] == on["older"] and on["avx512"]["unpinned"] == []
    switched = [lib for lib in ("aten", "onednn", "mkl", "numpy", "openblas") if reports["avx512"][lib] != reports["older"][lib]]
    assert {"aten", "numpy"} <= set(switched)  # the simulation changes at least what needs_avx512 guarantees
    assert [lib for lib in switched if off["avx512"][lib] != off["older"][lib]] == switched
    numpy_avx512 = [name for name in NUMPY_AVX512 if name in reports["avx512"]["numpy"]]
    expected = ["torch runs AVX512 kernels"] + ([f"numpy runs {', '.join(numpy_avx512)} loops"] if numpy_avx512 else [])
    assert off["avx512"]["unpinned"] == expected


@needs_avx512
def test_settings_made_after_the_libraries_chose_their_kernels_are_an_error():
    code = (
        "import numpy, torch\n"
        "torch.softmax(torch.ones(2, 3), 1)  # torch picks its kernels at its first operation\n"
        "from molere.portable import apply_portable\n"
        "from molere.train.tensors import reproducible_torch\n"
        "apply_portable(True)\n"
        "reproducible_torch(True)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=machine_env("avx512"), capture_output=True, text=True)
    numpy_avx512 = [name for name in NUMPY_AVX512 if name in kernel_reports("avx512")["numpy"]]
    numpy_part = f"; numpy runs {', '.join(numpy_avx512)} loops" if numpy_avx512 else ""
    assert result.stderr.splitlines()[-1] == (
        "molere.errors.MolereError: portable mode (execution.portable: true) is not in effect: torch runs AVX512 "
        f"kernels{numpy_part}. Its environment "
        "(molere.portable.portable_environment) must be set before torch and numpy are imported, as molere-bench "
        "does; or set execution.portable: false"
    )


# --- a tiny study on two machines -------------------------------------------------------------
# The "avx512" machine builds it with plain `dvc repro` and commits the results; the "older" one
# regenerates it with `molere-bench verify` in a fresh clone, whose every artifact is then compared.


def tiny_params(portable: bool) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["study"].update(scenarios=[SCENARIO], trusted_scenarios=[], methods=METHODS, search_seed=SEARCH_SEED, seeds=[SEED], trials=[0])
    params["execution"]["portable"] = portable
    params["data"]["mnist1d"]["num_samples"] = 400
    params["train"].update(steps=None, epochs=2, device="cpu")
    return params


def run(cmd: str, repo: Path, machine: str) -> str:
    result = subprocess.run(cmd, cwd=repo, env=machine_env(machine), shell=True, capture_output=True, text=True)
    assert result.returncode == 0, f"{cmd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


TIMING_FILES = ("timings/", "reports/cost.md", "reports/cost.csv")
NOT_ARTIFACTS = (".git/", ".dvc/")


def artifacts(repo: Path) -> dict[str, bytes]:
    """Every file the study wrote or holds, timing files and the git and DVC internals aside."""
    files = {p.relative_to(repo).as_posix(): p for p in repo.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    return {name: path.read_bytes() for name, path in sorted(files.items()) if not name.startswith(NOT_ARTIFACTS + TIMING_FILES)}


def lock_stages(repo: Path) -> dict:
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """The portable study as the "avx512" machine built and committed it."""
    repo = make_study_repo(tmp_path_factory.mktemp("study"), tiny_params(portable=True))
    run("dvc repro", repo, "avx512")
    run("git add -A && git commit -qm results", repo, "avx512")
    return repo


@needs_avx512
def test_portable_mode_gives_the_same_bits_on_the_other_machine(study):
    result = subprocess.run(
        [sys.executable, "-m", "molere.cli", "verify", "--env", "current", "--keep"],
        cwd=study, env=machine_env("older"), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "differs:" not in result.stdout
    assert "came out bit for bit the same (timing files aside)" in result.stdout.strip().splitlines()[-1]
    clone = Path(result.stdout.split("the clone is kept at ")[1].split()[0])
    try:
        mine, theirs = artifacts(study), artifacts(clone)
        assert list(mine) == list(theirs)
        assert {f"runs/{SCENARIO}/lrw-hard/seeds/{SEED}/model.pt", f"data/{SCENARIO}/pool.parquet", "reports/report.md"} <= set(mine)
        assert [name for name in mine if mine[name] != theirs[name]] == []
        stages = lock_stages(study)
        assert sorted(stages) == sorted(
            ["fingerprint", "report", *(f"{s}@{SCENARIO}" for s in ("prepare", "evaluate")),
             *(f"{s}@{SCENARIO}-{SEED}" for s in DRAW_STAGES), *(f"{s}-search@{SCENARIO}-{SEARCH_SEED}" for s in DRAW_STAGES),
             *(f"train@{SCENARIO}-{m}-0" for m in METHODS), *(f"replicate@{SCENARIO}-{m}-{SEED}" for m in METHODS),
             *(f"select@{SCENARIO}-{m}" for m in METHODS)]
        )
        assert stages == lock_stages(clone)
        for repo in (study, clone):  # each machine timed its own runs, apart from the results
            assert json.loads((repo / "timings" / SCENARIO / "erm" / "trials" / "0.json").read_text())["epochs"] == 2
    finally:
        shutil.rmtree(clone.parent)


@needs_avx512
def test_without_portable_mode_the_machines_differ(tmp_path):
    """Both machines' `dvc repro` up to the first training stage (the search seed's first ERM pass),
    side by side."""
    erm = f"erm-search@{SCENARIO}-{SEARCH_SEED}"
    repos = {m: make_study_repo(tmp_path / m, tiny_params(portable=False)) for m in MACHINES}
    procs = {
        m: subprocess.Popen(f"dvc repro {erm}", cwd=repo, env=machine_env(m), shell=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for m, repo in repos.items()
    }
    for machine, proc in procs.items():
        output, _ = proc.communicate()
        assert proc.returncode == 0, f"dvc repro on {machine} failed:\n{output}"
    a, b = (artifacts(repos[m]) for m in MACHINES)
    assert {f"runs/{SCENARIO}/draws/{SEARCH_SEED}/erm-rank/model.pt", "dvc.lock"} <= {name for name in a if a[name] != b.get(name)}
    a_lock, b_lock = (lock_stages(repos[m]) for m in MACHINES)
    assert a_lock[erm]["outs"] != b_lock[erm]["outs"]


def library_calls(lines: list[str]) -> tuple[list[str], list[str]]:
    """MKL's and oneDNN's verbose lines for the calls they made (not their banners)."""
    mkl = [line for line in lines if line.startswith("MKL_VERBOSE ") and " CNR:" in line]
    onednn = [line for line in lines if line.startswith("onednn_verbose") and ",exec," in line]
    return mkl, onednn


VERBOSE = {"MKL_VERBOSE": "1", "ONEDNN_VERBOSE": "1"}


@pytest.mark.skipif(not is_x86(), reason="the kernel pins are x86-64's")
def test_in_portable_mode_every_product_runs_on_mkls_vendor_independent_branch_and_none_on_onednn(tmp_path):
    """The whole pipeline up to a trained LRW-Hard run, with MKL and oneDNN reporting every call:
    each MKL call on its COMPATIBLE branch on one thread, no oneDNN primitive at all."""
    repo = make_study_repo(tmp_path, tiny_params(portable=True))
    env = {**study_env(), **VERBOSE, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(f"dvc repro train@{SCENARIO}-lrw-hard-0", cwd=repo, env=env, shell=True,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    mkl, onednn = library_calls((result.stdout + result.stderr).splitlines())
    assert mkl and all(" CNR:COMPATIBLE " in line and line.split()[-1] == "NThr:1" for line in mkl)
    assert onednn == []


@pytest.mark.parametrize("portable", [True, False])
def test_the_call_reports_tell_the_two_modes_apart(portable):
    """What the test above reads can fail: without portable mode a convolution goes to oneDNN and
    MKL runs outside its COMPATIBLE branch."""
    code = ("import sys, torch\nfrom molere.train.tensors import reproducible_torch\n"
            "reproducible_torch(sys.argv[1] == 'on')\n"
            "torch.nn.Conv1d(1, 4, 3)(torch.ones(8, 1, 20)); torch.ones(64, 64) @ torch.ones(64, 64)\n")
    unpinned = {k: v for k, v in study_env().items() if k not in portable_environment(True)}
    env = {**unpinned, **portable_environment(portable), **VERBOSE, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code, "on" if portable else "off"], env=env, capture_output=True, text=True)
    mkl, onednn = library_calls((result.stdout + result.stderr).splitlines())
    assert result.returncode == 0 and mkl
    assert all(" CNR:COMPATIBLE " in line for line in mkl) is portable
    assert (onednn == []) is portable


def test_a_forced_identical_rerun_leaves_every_artifact_and_dvc_status_unchanged(study):
    before = artifacts(study)
    run(f"dvc repro -f -s train@{SCENARIO}-lrw-hard-0", study, "avx512")
    assert "up to date" in run("dvc status", study, "avx512")
    run("dvc repro -f", study, "avx512")  # every stage kind again
    after = artifacts(study)
    assert list(after) == list(before) and [name for name in before if before[name] != after[name]] == []
    assert "up to date" in run("dvc status", study, "avx512")
    changed = {line[3:] for line in run("git status --porcelain", study, "avx512").splitlines()}
    assert changed == {"reports/cost.md", "reports/cost.csv"}  # the committed timing files; timings/ is ignored


def test_a_saved_model_holds_no_trace_of_its_temporary_file(tmp_path):
    import torch

    from molere.experiment import load_model, make_model, save_model

    params = Params({"model": {"name": "mlp"}})
    torch.manual_seed(0)
    model = make_model(params, (6,), 3)
    for run_dir in ("a", "b"):
        save_model(tmp_path / run_dir / "model.pt", model, params, {"num_classes": 3})
    assert (tmp_path / "a/model.pt").read_bytes() == (tmp_path / "b/model.pt").read_bytes()
    loaded = load_model(tmp_path / "b/model.pt", (6,))
    assert all(torch.equal(p, q) for p, q in zip(loaded.state_dict().values(), model.state_dict().values()))
    # what it avoids: torch.save to a file names the archive after that file
    for name in (".model.pt.x1.tmp", ".model.pt.x2.tmp"):
        torch.save(model.state_dict(), tmp_path / name)
    assert (tmp_path / ".model.pt.x1.tmp").read_bytes() != (tmp_path / ".model.pt.x2.tmp").read_bytes()
