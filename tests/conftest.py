"""Shared fixtures: paths to ../shared (skipped cleanly when absent) and small real audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture(scope="session")
def conformance_dir(shared_dir: Path) -> Path:
    path = shared_dir / "conformance"
    if not path.is_dir():
        pytest.skip("../shared/conformance is absent")
    return path


@pytest.fixture(scope="session")
def dh(conformance_dir: Path) -> Path:
    """The DH_live fixtures (../shared/conformance/dhlive)."""
    path = conformance_dir / "dhlive"
    if not path.is_dir():
        pytest.skip("dhlive fixtures absent")
    return path


def max_err(a, b) -> float:
    """Largest absolute difference, in float64 (for comparing against fixture tolerances)."""
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.fixture(scope="session")
def eval_dir(shared_dir: Path) -> Path:
    path = shared_dir / "eval"
    if not path.is_dir():
        pytest.skip("../shared/eval is absent")
    return path


def random_chunks(x: np.ndarray, rng: np.random.Generator, shortest: int, longest: int):
    """Consecutive pieces of `x` of random lengths in [shortest, longest): how stream tests feed
    audio, so a stream must give the same result whatever the chunking."""
    i = 0
    while i < len(x):
        n = int(rng.integers(shortest, longest))
        yield x[i:i + n]
        i += n
