"""Seeds: the one way the data helpers turn a seed into a random generator."""

from __future__ import annotations

import numpy as np

Seed = int | np.random.Generator | None


def as_generator(seed: Seed) -> np.random.Generator:
    """A Generator from an int seed (reproducible), a Generator (used as is) or None (fresh)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
