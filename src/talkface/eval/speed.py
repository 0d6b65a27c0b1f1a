"""Speed: frames per second, real-time factor and peak resident memory of a piece of work."""
from __future__ import annotations

import contextlib
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _read_status_kb(key: str) -> float | None:
    """A `kB` field of /proc/self/status (Linux), or None where unavailable."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux ≥ 4.0: write 5 to clear_refs); False if not possible."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MiB since start or the last `reset_peak_rss` (VmHWM)."""
    kb = _read_status_kb("VmHWM")
    if kb is None:
        kb = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # kB on Linux, lifetime peak
    return kb / 1024.0


@dataclass
class Speed:
    """Measured speed of one run; `rtf` = wall seconds / media seconds (< 1 is faster than real time)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0  # CPU time of this process (all threads): unlike wall time, not inflated by other load
    frames: int = 0
    media_seconds: float = 0.0
    peak_rss_mb: float = 0.0
    peak_is_local: bool = False  # True when the peak was reset at the start, i.e. belongs to this run only

    @property
    def fps(self) -> float:
        """Frames processed per wall-clock second."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def rtf(self) -> float:
        """Real-time factor: wall seconds per second of media."""
        return self.seconds / self.media_seconds if self.media_seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "cpu_seconds": self.cpu_seconds, "frames": self.frames, "fps": self.fps,
                "rtf": self.rtf, "peak_rss_mb": self.peak_rss_mb}


@contextlib.contextmanager
def measure(frames: int = 0, media_seconds: float = 0.0) -> Iterator[Speed]:
    """Time the block and record peak RSS; set `.frames` / `.media_seconds` inside the block if unknown before."""
    speed = Speed(frames=frames, media_seconds=media_seconds)
    speed.peak_is_local = reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield speed
    finally:
        speed.seconds = time.perf_counter() - t0
        speed.cpu_seconds = time.process_time() - c0
        speed.peak_rss_mb = peak_rss_mb()
