"""DVC's cache written by several processes at once: the run's workers commit stages side by side.

DVC adds a file to its cache by trying a reflink first, on every add (`dvc_objects`'
`generic.transfer`), and its Linux reflink opens the object's final path with O_TRUNC and, where
the file system cannot clone (ext4, tmpfs, overlayfs), unlinks it before falling back to a copy
through a temporary file. One `dvc repro` never adds an object while it reads it. The run's
workers do: two stages that write the same bytes commit the same object at the same time, and
while one worker's failed reflink has truncated or removed the object, the other worker's
checkout finds it missing (`unable to remove ... without a confirmation`, seen as a failed
stage) or copies it truncated into the workspace.

Here a reflink clones into a temporary file beside the destination and renames it over it, as
DVC's copy does: the object at its final path is always whole or absent-before-first-add, never
truncated or removed. The fallback to a copy and what is cached are DVC's own."""

from __future__ import annotations

import contextlib
import os


def atomic(reflink):
    """`reflink(src, dst)` made atomic at `dst`: cloned into a temporary file in its folder,
    then renamed over it; a failed clone leaves `dst` as it was and raises as `reflink` does."""
    from dvc_objects.fs.utils import tmp_fname

    def clone(src: str, dst: str) -> None:
        tmp = os.path.join(os.path.dirname(dst), tmp_fname())
        reflink(src, tmp)  # on failure it removes `tmp` itself
        os.replace(tmp, dst)

    return clone


@contextlib.contextmanager
def atomic_reflinks():
    """DVC's reflinks atomic (`atomic`) for the block, in this process."""
    from dvc_objects.fs import system

    reflink = system.reflink
    system.reflink = atomic(reflink)
    try:
        yield
    finally:
        system.reflink = reflink
