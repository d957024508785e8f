"""What a replicate seed draws. A seed re-draws every random choice after the dataset itself: the
label corruption of the pool's training part (skew and noise), the first ERM pass (so the margins
and the hard and easy sets), the random validation set, and the classifier's initialisation and
data order. The dataset's signals, the test and OOD sets and the selection split (with its
observed labels) are drawn once, from `data.seed`: they are what every seed is measured on.

Each choice takes its own stream of the seed, so that no two of them share random numbers (the
first ERM pass and the ERM replicate would otherwise start from the same weights)."""

from __future__ import annotations

import zlib

import numpy as np

STREAMS = ("corruption", "rank", "valsets")


def stream_seed(seed: int, stream: str) -> int:
    """The seed of `stream`'s draws under replicate seed `seed` (the classifier takes `seed` itself)."""
    if stream not in STREAMS:
        raise ValueError(f"unknown random stream {stream!r}; known: {', '.join(STREAMS)}")
    return int(np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(1)[0])
