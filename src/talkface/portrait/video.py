"""A MotionTrack rendered onto a portrait and encoded to MP4, streamed: motion is decoded to landmarks in chunks,
frames are rendered one at a time and handed to the encoder, so memory stays flat for any length."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from .model import PortraitModel
from .render import PortraitRenderer, paste_back

DECODE_CHUNK = 250  # frames of motion decoded to landmarks at a time (10 s at 25 fps)


def motion_inputs(model: PortraitModel, motion, chunk: int = DECODE_CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(pose [6], canonical landmarks [478,3]) per frame of a `talkface.motion.MotionTrack` on this portrait.

    The photo's own landmarks are the rest face the motion's expression offsets apply to.
    """
    rest = model.track.landmarks3d[0]
    for start in range(0, motion.n_frames, chunk):
        part = motion.slice(start, min(start + chunk, motion.n_frames))
        shapes = part.shapes(rest)
        for k in range(part.n_frames):
            yield part.pose[k], shapes[k]


def write_video(model: PortraitModel, motion, out: str | Path, audio: np.ndarray | None = None,
                audio_rate: int = 16000, original: np.ndarray | None = None, progress: bool = False) -> Path:
    """Render `motion` on `model` into an H.264 MP4 at the motion's fps, with `audio` muxed if given.

    With `original` (the full photo) every frame is pasted back into it (SadTalker's "full" mode; build the model
    with `size=None` so frames go back without resampling). The file appears only when complete (atomic writer).
    """
    from ..media import VideoWriter

    out = Path(out)
    renderer = PortraitRenderer(model)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=motion.n_frames, unit="frame", desc="rendering", dynamic_ncols=True)
    try:
        with VideoWriter(out, fps=motion.fps, audio=audio, audio_rate=audio_rate) as writer:
            for pose, shape in motion_inputs(model, motion):
                frame = renderer.render(pose, shape)
                writer.write(paste_back(model, frame, original) if original is not None else frame)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out
