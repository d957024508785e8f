"""The GPU checks run on a GPU machine's own Python, which has no DVC, Ray or mnist1d: the smoke run
of benchmarks/gpu_check.py on the CPU, with those three made unimportable, runs every stage it
times and prints both methods' throughput; and the session script is valid shell."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ABSENT = ("dvc", "ray", "mnist1d")  # not in the GPU machine's image (benchmarks/gpu_session.sh)
STUDY_METHODS = yaml.safe_load((ROOT / "params.yaml").read_text())["study"]["methods"]


# enough images that each of CIFAR-100's classes keeps a few in the pool (the validation sides are
# class-balanced); a small model, as the CPU is slow for the ResNets
@pytest.mark.parametrize(
    "options, header, methods",
    [
        ([], "mlp, batch 32, 1 epochs, train.augment none, device cpu", ["erm", "lrw-hard"]),
        (["--preset", str(ROOT / "studies/cifar100-resnet32.yaml"), "--methods", "all"], "mlp, batch 32, 1 epochs, train.augment flip-crop, device cpu", STUDY_METHODS),
    ],
)
def test_gpu_check_runs_its_stages_without_dvc_ray_or_mnist1d(tmp_path, options, header, methods):
    shim = tmp_path / "shim"
    for name in ABSENT:
        (shim / name).mkdir(parents=True)
        (shim / name / "__init__.py").write_text(f"raise ImportError('{name} is not on the GPU machine')\n")
    blocked = subprocess.run([sys.executable, "-c", "import dvc"], env={"PYTHONPATH": str(shim)}, capture_output=True, text=True)
    assert "dvc is not on the GPU machine" in blocked.stderr  # the shim blocks: the check below could not pass by accident
    command = [sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--device", "cpu", "--model", "mlp", "--epochs", "1", "--batch-size", "32",
               "--train-images", "2000", "--test-images", "100", "--keep", str(tmp_path / "work"), *options]
    result = subprocess.run(command, env={"PYTHONPATH": str(shim), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("gpu_check on the CPU (a smoke run)") and header in lines
    top = next(i for i, line in enumerate(lines) if line.startswith("method"))
    rows = {line.split()[0]: line.split() for line in lines[top + 1 : -1]}
    assert list(rows) == methods and rows["erm"][2] == "1.00"  # ERM's cost against itself
    assert all(float(row[1].replace(",", "")) > 0 and row[3] == "nan" for row in rows.values())  # images/s; no GPU to read
    assert lines[-1] == "(no target applies: targets are for ResNet-18 at batch 512 on CUDA)"
    assert (tmp_path / "work/runs/clean/lrw-hard/trials/0").is_dir()


def test_the_session_script_is_valid_shell():
    assert subprocess.run(["bash", "-n", str(ROOT / "benchmarks/gpu_session.sh")]).returncode == 0
