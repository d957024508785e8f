"""Portable numerical kernels (`execution.portable`, on by default).

torch, numpy and their BLAS libraries pick their kernels by the CPU: its instruction set, its
vendor and its cache sizes. Kernels for different instruction sets round differently, and so do
the same kernels blocked for other cache sizes, so the same stage trained on two machines gives
different models, which noisy-label training amplifies into points of accuracy. Portable mode
takes every such choice away from the machine (docs/reproducibility.md):

- torch's own vectorised kernels (ATen) and numpy's loops are pinned to AVX2, which every current
  x86-64 server has; OpenBLAS (numpy's products) to its Haswell kernels;
- torch's matrix products run on MKL's COMPATIBLE branch: the one code path MKL documents as the
  same on Intel and on other vendors' CPUs (any other `MKL_CBWR` branch is honoured on Intel
  processors only; elsewhere MKL silently takes its automatic branch), in its conditional
  reproducibility mode, which also fixes the cache sizes its blocking assumes;
- oneDNN is off (`molere.train.tensors.reproducible_torch`): it blocks a convolution for the cache
  sizes of the CPU it runs on, so torch's convolutions go to its own im2col and MKL's products;
- one thread per process (a parallel reduction's order depends on the thread count), and what
  CUDA needs for deterministic algorithms.

The libraries read these variables once, when they load, so they must be in the environment
before torch or numpy is imported: the CLI puts them there as soon as it has read params.yaml
(`apply_portable`), the tests in conftest.py, and an executor passes `portable_environment(...)`
to its workers (Ray: `runtime_env={"env_vars": ...}`). Once torch is imported,
`molere.train.tensors.reproducible_torch` turns on deterministic algorithms and checks that the
pins took effect. `molere-bench verify --canary` checks the result against other machines'
records. This module imports neither torch nor numpy."""

from __future__ import annotations

import os
import platform

from molere.errors import MolereError
from molere.params import Params

THREADS = 1  # one thread per stage process: the executor runs one stage per core
# numpy >= 2.4's names for its AVX-512 loops (exp, log, sort, argsort ...); its AVX2 group is X86_V3
NUMPY_AVX512 = ("X86_V4", "AVX512_ICL", "AVX512_SPR")
X86_PINS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN, for whatever still reaches it with torch's use of it off
    "MKL_CBWR": "COMPATIBLE",  # torch's matrix products (MKL): its one code path for every vendor's CPU
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's matrix products (OpenBLAS): its AVX2 kernels
    "NPY_DISABLE_CPU_FEATURES": " ".join(NUMPY_AVX512),  # numpy's own loops: no AVX-512
}
THREAD_PINS = {name: str(THREADS) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
CUDA_PINS = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}  # what cuBLAS needs to be deterministic


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def portable_environment(portable: bool) -> dict[str, str]:
    """The environment variables a stage process or worker must start with: the pins of portable
    mode (the x86 kernel pins only on an x86-64 host: elsewhere torch would warn that it ignores
    them), or nothing when `portable` is false (native kernels, the libraries' own thread counts)."""
    if not portable:
        return {}
    return {**(X86_PINS if is_x86() else {}), **THREAD_PINS, **CUDA_PINS}


def portable_setting(params: Params) -> bool:
    """`execution.portable` (true when absent), or a one-line error for anything but a boolean."""
    value = params.get("execution.portable", object, True)
    if not isinstance(value, bool):
        raise MolereError(
            f"execution.portable = {value!r} is not allowed; allowed: true (portable kernels, "
            "reproducible on any x86-64 machine), false (this CPU's fastest kernels)"
        )
    return value


def apply_portable(portable: bool) -> None:
    """Put portable mode's variables in this process's environment, over any the parent set (that
    parent may be simulating, or be, another machine). Call it before torch or numpy is imported."""
    os.environ.update(portable_environment(portable))


def unpinned_kernels() -> list[str]:
    """What runs other kernels than portable mode pins, in this process (torch and numpy must be
    imported already); empty where the pins took effect or the host is not x86-64."""
    if not is_x86():
        return []
    import torch

    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # numpy < 2
        from numpy.core._multiarray_umath import __cpu_features__

    found = []
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != "AVX2":
        found.append(f"torch runs {capability} kernels")
    enabled = [name for name in NUMPY_AVX512 if __cpu_features__.get(name)]
    if enabled:
        found.append(f"numpy runs {', '.join(enabled)} loops")
    return found
