"""One photo + speech → talking-head MP4 (the SadTalker path): portrait model, speech features, motion
(`talkface.motion.generate_motion` with every user control), streamed rendering and encoding with the audio muxed.
This is the library function a CLI `animate` command maps its flags onto."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from .image import load_portrait_image
from .model import PortraitModel, build_portrait
from .video import write_video


@dataclass
class AnimateResult:
    """What `animate` made: the video path, the portrait model and the motion it rendered."""

    path: Path
    model: PortraitModel
    motion: object  # talkface.motion.MotionTrack
    seconds: float


def animate(image: str | Path | np.ndarray, out: str | Path, audio: str | Path | None = None, text: str | None = None,
            controls=None, size: int = 512, full: bool = False, face_index: int | None = None,
            progress: bool = False) -> AnimateResult:
    """Make the face in `image` speak `audio` (any media file with sound) or `text` (offline TTS) into `out`.

    `controls` is a `talkface.motion.MotionControls` (still, pose style/source, blink, eyes, expression, scales,
    yaw/pitch/roll, seed). `size` is the square face crop (256 or 512); `full` pastes the animated crop back into
    the whole photo at its own resolution. Raises UserError for bad inputs (no face, no audio, ...).
    """
    from ..audio import features_from_file, features_from_text
    from ..media import load_audio
    from ..motion import generate_motion

    if (audio is None) == (text is None or not str(text).strip()):
        raise UserError("give either an audio file or a text to speak (exactly one of them).")
    if size not in (256, 512) and not full:
        raise UserError(f"the output size must be 256 or 512 (got {size}); use --full for the photo's own size.")
    rgb = image if isinstance(image, np.ndarray) else load_portrait_image(image)
    model = build_portrait(rgb, size=None if full else size, face_index=face_index)
    if text is not None and str(text).strip():
        samples, rate, speech = features_from_text(str(text))
    else:
        speech = features_from_file(audio)
        rate = 16000
        samples = load_audio(audio, rate)
    motion = generate_motion(speech, controls, reference=model.track)
    path = write_video(model, motion, out, audio=np.asarray(samples, np.float32), audio_rate=int(rate),
                       original=rgb if full else None, progress=progress)
    return AnimateResult(path=Path(path), model=model, motion=motion, seconds=motion.n_frames / motion.fps)
