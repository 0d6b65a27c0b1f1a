"""Shared fixtures: the real media in ../shared/data (tests skip cleanly when it is absent)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import talkface  # noqa: F401  (first: sets OMP_WAIT_POLICY/NUMBA_THREADING_LAYER before torch or numba load)

os.environ.setdefault("GLOG_minloglevel", "2")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data, or skip the test with a clear reason."""
    if not DATA.is_dir():
        pytest.skip(f"real test media not found at {DATA}")
    return DATA


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` run only when asked for with `-m slow`."""
    if "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow end-to-end test: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
