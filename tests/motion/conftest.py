"""Motion fixtures: real tracked clips (cached under the user cache dir) and their speech features."""
from __future__ import annotations

import pytest

from talkface.motion.data import cached_speech, cached_track
from talkface.motion.weights import weights_path


@pytest.fixture(scope="session")
def weights():
    """Skip when the shipped motion weights are missing (train them with python -m talkface.motion.train)."""
    for name in ("eyes", "expression", "pose"):
        if not weights_path(name).is_file():
            pytest.skip(f"motion weights {weights_path(name)} missing")


@pytest.fixture(scope="session")
def tracks(data_dir):
    """Tracks of a talking clip and three silent driving clips (distinct sources for PD-FGC mixing)."""
    names = {"talk": "videos/feifeili_clip3.mp4", "pose": "driving/liveportrait_d3.mp4",
             "eyes": "driving/liveportrait_d0.mp4", "expr": "driving/W009_front_neutral_level1_001.mp4"}
    return {k: cached_track(data_dir / v) for k, v in names.items()}


@pytest.fixture(scope="session")
def held_out_speech(data_dir):
    """Speech features of a held-out talking clip (feifeili_clip3, 7 s)."""
    return cached_speech(data_dir / "videos/feifeili_clip3.mp4")


def tiled(speech, times: int):
    """The same speech repeated `times` times (a long input built from a real clip)."""
    import numpy as np

    from talkface.audio.features import SpeechFeatures

    return SpeechFeatures(np.tile(speech.mel, (times, 1)), np.tile(speech.phoneme_posteriors, (times, 1)),
                          np.tile(speech.embedding, (times, 1)), speech.duration * times)


@pytest.fixture(scope="session")
def tile():
    """`tiled(speech, times)`: repeat real speech features to make long inputs."""
    return tiled
