"""Shipped motion weights: small safetensors files in `motion/weights/`, each with a JSON config in its metadata."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import UserError

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


def weights_path(name: str) -> Path:
    """Path of shipped weights file `name` (e.g. 'expression' → weights/expression.safetensors)."""
    return WEIGHTS_DIR / f"{name}.safetensors"


def save_weights(path: Path, tensors: dict[str, torch.Tensor | np.ndarray], meta: dict, half: bool = False) -> None:
    """Write tensors + JSON metadata as safetensors, atomically (float16 storage when `half`, to keep files small;
    loading into a float32 module converts back)."""
    from safetensors.torch import save_file

    dtype = torch.float16 if half else torch.float32
    payload = {k: (torch.as_tensor(v) if not isinstance(v, torch.Tensor) else v).detach().to(dtype).contiguous()
               for k, v in tensors.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(payload, str(tmp), metadata={"meta": json.dumps(meta)})
    Path(path).chmod(0o644)  # safetensors writes owner-only files; shipped weights must be readable by all


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a file written by `save_weights`; a UserError names the training command if absent."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise UserError(f"{path}: motion weights not found (train them with `python -m talkface.motion.train`).")
    with safe_open(str(path), "pt") as fh:
        meta = json.loads((fh.metadata() or {}).get("meta", "{}"))
    return load_file(str(path)), meta
