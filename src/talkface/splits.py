"""The train / held-out split of ../shared/data used by every model talkface trains, fixed by clip.

Held-out clips are never trained on; reports on them are the honest numbers. Chosen to cover several
speakers, both 256² crops and larger frames, and a silent driving clip.
"""
from __future__ import annotations

from pathlib import Path

HELD_OUT_VIDEOS = ("obama_clip2.mp4", "feifeili_clip3.mp4", "andrew_clip2.mp4", "wda_aoc.mp4")
HELD_OUT_DRIVING = ("liveportrait_d19.mp4", "W011_front_neutral_level1_001.mp4")
HELD_OUT_SPEECH = ("LJ001-0008.wav", "LJ001-0009.wav")


def shared_data_dir() -> Path:
    """../shared/data relative to the repository root (where the test media live)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def clips(folder: str, held_out: bool, data: Path | None = None) -> list[Path]:
    """Sorted `.mp4` clips of `folder` ('videos' or 'driving') in the train (False) or held-out (True) part."""
    data = data or shared_data_dir()
    names = set(HELD_OUT_VIDEOS if folder == "videos" else HELD_OUT_DRIVING)
    return sorted(p for p in (data / folder).glob("*.mp4") if (p.name in names) == held_out)
