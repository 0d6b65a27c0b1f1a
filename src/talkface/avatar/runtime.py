"""Thread settings for the avatar's torch + numba work on a small, possibly shared CPU."""
from __future__ import annotations

import os


def configure_threads(threads: int | None = None) -> int:
    """Set torch and numba to `threads` (default: all cores, or 1 when other jobs already keep every core busy —
    parallel regions then stall on descheduled threads, measured 10-20x slower than one thread)."""
    import numba
    import torch

    cores = os.cpu_count() or 1
    if threads is None:
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        threads = 1 if busy > cores else cores
    threads = max(1, min(int(threads), cores))
    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads
