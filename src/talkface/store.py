"""Versioned `.npz` storage for the core types: arrays plus a JSON header naming the kind and format version."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path
from .errors import UserError

_HEADER_KEY = "__header__"


def save_npz(path: str | os.PathLike, kind: str, version: int, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Save `arrays` and a JSON header {kind, version, meta} to `path` atomically (compressed npz)."""
    header = json.dumps({"kind": kind, "version": version, "meta": meta})
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    payload[_HEADER_KEY] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **payload)


def load_npz(path: str | os.PathLike, kind: str, version: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load a file written by `save_npz`, refusing other kinds, other format versions and corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file.")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UserError(f"{path}: not a readable talkface {kind} file ({exc.__class__.__name__}).") from None
    if _HEADER_KEY not in arrays:
        raise UserError(f"{path}: not a talkface {kind} file (no header).")
    header = json.loads(arrays.pop(_HEADER_KEY).tobytes().decode("utf-8"))
    if header.get("kind") != kind:
        raise UserError(f"{path}: holds a {header.get('kind')!r}, expected a {kind!r}.")
    if header.get("version") != version:
        raise UserError(
            f"{path}: {kind} format version {header.get('version')} is not supported by this talkface "
            f"(expects version {version}); re-create it with this version."
        )
    return arrays, header.get("meta", {})
