"""`Avatar` on disk: a directory with config.json (format + version), weights.safetensors, track.npz and
background/ (the source frames of the training part, JPEG, read on demand).

Loading refuses other format versions, and corrupt or partial directories, with one clear UserError.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..atomic import write_text_atomic
from ..errors import UserError
from ..face import FaceTrack
from .config import AvatarConfig
from .dataset import CropBoxes

AVATAR_FORMAT = "talkface-avatar"
AVATAR_VERSION = 4  # 2: mouth condition = expression coefficients; 3: + upper-face (eyes, brows) condition and rig
# on the shipped model's coefficients; 4: the upper face on the avatar's own basis (stored in the weights)
REQUIRED = ("config.json", "weights.safetensors", "track.npz", "background")


@dataclass
class Avatar:
    """A fitted avatar ready to render: model (eval mode), config, training track, crops, background frames."""

    path: Path
    model: object  # AvatarModel
    config: AvatarConfig
    track: FaceTrack
    boxes: CropBoxes
    meta: dict

    @property
    def n_frames(self) -> int:
        """Frames of the training part (the pose / background pool)."""
        return self.track.n_frames

    @property
    def upper_basis(self):
        """The avatar's own upper-face basis (`condition.UpperBasis`), None when fitted without an upper face."""
        return self.model.rig.upper_basis() if self.model.rig is not None else None

    def background(self, index: int) -> np.ndarray:
        """Source frame `index` of the training part, RGB uint8 at the source size."""
        img = cv2.imread(str(background_path(self.path, index)), cv2.IMREAD_COLOR)
        if img is None:
            raise UserError(f"{self.path}: background frame {index} is missing or corrupt; re-run `talkface fit`.")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def background_path(avatar_dir: Path, index: int) -> Path:
    """File of background frame `index`."""
    return Path(avatar_dir) / "background" / f"{index:06d}.jpg"


def write_background(avatar_dir: Path, index: int, frame: np.ndarray) -> None:
    """Store one RGB source frame as high-quality JPEG."""
    path = background_path(avatar_dir, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def file_digest(path: Path) -> str:
    """SHA-256 of a file (records which speech encoder an avatar was trained with)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_avatar_files(work: Path, model, cfg: AvatarConfig, track: FaceTrack, boxes: CropBoxes, meta: dict) -> None:
    """Write weights, track and config.json into `work` (background/ is already there); config last."""
    from safetensors.torch import save_file

    from ..atomic import atomic_path

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(work / "weights.safetensors") as tmp:
        save_file(state, str(tmp))
    track.save(work / "track.npz")
    doc = {"format": AVATAR_FORMAT, "version": AVATAR_VERSION, "config": cfg.to_dict(),
           "crop": {"side": boxes.side, "centres": np.round(boxes.centres, 3).tolist()},
           "sizes": {name: f.count for name, f in model.fields().items()}, **meta}
    write_text_atomic(work / "config.json", json.dumps(doc, indent=1))


def publish(work: Path, target: Path) -> None:
    """Move a finished work directory onto `target` (replacing an older avatar there)."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        work.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        work.rename(target)


def read_config(path: Path) -> dict:
    """config.json of an avatar directory, checked for format, version and completeness."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such avatar directory (create one with `talkface fit`).")
    missing = [name for name in REQUIRED if not (path / name).exists()]
    if missing:
        raise UserError(f"{path}: not a complete avatar (missing {', '.join(missing)}); it may be partial — "
                        "re-run `talkface fit`.")
    try:
        doc = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"{path}: config.json is corrupt; re-run `talkface fit`.") from None
    if not isinstance(doc, dict) or doc.get("format") != AVATAR_FORMAT:
        raise UserError(f"{path}: config.json is not a talkface avatar config.")
    if doc.get("version") != AVATAR_VERSION:
        raise UserError(f"{path}: avatar format version {doc.get('version')} is not supported by this talkface "
                        f"(expects version {AVATAR_VERSION}); re-create it with `talkface fit`.")
    return doc


def load_avatar(path: str | Path) -> Avatar:
    """Open an avatar directory; refuses other versions, and corrupt or partial directories."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .model import AvatarModel

    path = Path(path)
    doc = read_config(path)
    try:
        cfg = AvatarConfig.from_dict(doc["config"])
        boxes = CropBoxes(np.asarray(doc["crop"]["centres"], np.float32), float(doc["crop"]["side"]))
        audio = doc["audio"]
        track = FaceTrack.load(path / "track.npz")
        if len(boxes.centres) != track.n_frames:
            raise ValueError("crop and track lengths differ")
        missing = [i for i in range(track.n_frames) if not background_path(path, i).is_file()]
        if missing:
            raise UserError(f"{path}: {len(missing)} background frames are missing; the avatar is partial — "
                            "re-run `talkface fit`.")
        state = load_file(str(path / "weights.safetensors"))
        model = AvatarModel(cfg.model, int(audio["in_dim"]), int(audio["window"]), seed=cfg.train.seed)
        for name, field in model.fields().items():
            field.load_sizes_from(state, name + ".")
        model.load_state_dict(state)
    except UserError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, OSError, SafetensorError) as exc:
        raise UserError(f"{path}: the avatar is corrupt ({exc.__class__.__name__}); re-run `talkface fit`.") from None
    model.eval()
    return Avatar(path, model, cfg, track, boxes, doc)
