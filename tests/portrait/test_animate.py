"""`animate`: a real portrait made to speak real speech (and TTS text), end to end into an MP4."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PORTRAIT = DATA / "portraits" / "people_0.png"
SPEECH = DATA / "speech" / "LJ001-0001.wav"

# Not marked slow on purpose: this is the end-to-end subset of the one-photo path that CI runs (~15 s).
pytestmark = [pytest.mark.skipif(not (PORTRAIT.is_file() and SPEECH.is_file()), reason="shared test data not found")]


@pytest.fixture(scope="module")
def spoken(tmp_path_factory):
    from talkface.portrait.animate import animate
    out = tmp_path_factory.mktemp("animate") / "speech.mp4"
    return animate(PORTRAIT, out, audio=SPEECH, size=256)


def test_frames_cover_the_speech_and_audio_is_muxed(spoken):
    from talkface.media import probe
    info = probe(spoken.path)
    speech = probe(SPEECH)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (256, 256)
    assert abs(spoken.motion.n_frames - np.ceil(speech.duration * 25)) <= 1
    assert abs(info.duration - speech.duration) < 0.15


def test_rendered_mouth_follows_the_generated_motion(spoken):
    from talkface.face import track_video
    from talkface.face.features import mouth_gap
    shapes = spoken.motion.shapes(spoken.model.track.landmarks3d[0])
    wanted = mouth_gap(shapes)
    got = mouth_gap(track_video(spoken.path).landmarks3d)
    n = min(len(wanted), len(got))
    assert wanted[:n].std() > 0.05, "speech should move the lips"
    r = np.corrcoef(wanted[:n], got[:n])[0, 1]
    assert r > 0.7, f"re-tracked mouth opening correlates only {r:.2f} with the motion rendered"


def test_still_keeps_the_pose_and_the_background(tmp_path):
    from talkface.media import iter_frames
    from talkface.motion import MotionControls
    from talkface.portrait.animate import animate
    result = animate(PORTRAIT, tmp_path / "still.mp4", text="Hello there, this is a still test.",
                     controls=MotionControls(still=True), size=256)
    assert np.ptp(result.motion.pose, axis=0).max() < 1e-5
    frames = np.stack(list(iter_frames(result.path))).astype(np.float32)
    border = np.concatenate([frames[:, :8].reshape(len(frames), -1), frames[:, -8:].reshape(len(frames), -1)], 1)
    assert np.median(border.std(axis=0)) < 1.0


def test_needs_exactly_one_of_audio_and_text(tmp_path):
    from talkface.errors import UserError
    from talkface.portrait.animate import animate
    with pytest.raises(UserError, match="exactly one"):
        animate(PORTRAIT, tmp_path / "x.mp4")
    with pytest.raises(UserError, match="exactly one"):
        animate(PORTRAIT, tmp_path / "x.mp4", audio=SPEECH, text="hi")
