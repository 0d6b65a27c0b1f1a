"""Render a portrait model at a target head pose and canonical landmark shape (expression, eyes, gaze).

Per frame: project the target landmarks (weak perspective, as the tracker), move the surround with the head,
place the eye interiors, iris discs and the inner-mouth fan, refresh the mouth texture for the target opening,
and warp the atlas (one z-buffered, anti-aliased mesh warp). `render_frames` streams frames from iterables of
poses and shapes, so memory stays flat however long the motion is; `paste_back` puts a crop frame back into
the original photo (feathered; the surround's motion is zero at the crop border, so the seam is invisible).
"""
from __future__ import annotations

from typing import Iterable, Iterator

import cv2
import numpy as np

from ..face.landmarks import FACE_OVAL, LIPS_INNER
from ..render.warp import MeshWarper
from .model import N_FACE, N_IRIS_RING, PortraitModel, project_to_crop
from .mouth import (PATCH_H, PATCH_W, MouthPrior, compose_open_mouth, inner_vertices, mouth_opening, person_texture,
                    shipped_mouth_prior)

SURROUND_DEPTH_CM = 3.0  # the surround sits this far behind the face oval (it loses every overlap with the face)
SCLERA_DEPTH_CM = 0.6  # eye interior behind the lid contour
IRIS_DEPTH_CM = 0.3  # iris disc between lids and sclera
MOUTH_DEPTH_CM = 1.0  # inner mouth behind the inner lips
MIN_SYNTH_OPENING = 0.02  # below this opening the inner mouth is not visible at all


class PortraitRenderer:
    """Renders frames of one portrait model; holds the warp buffers and the per-frame atlas."""

    def __init__(self, model: PortraitModel, prior: MouthPrior | None = None):
        self.model = model
        self.prior = prior if prior is not None else shipped_mouth_prior()
        self.atlas = model.atlas.copy()
        self.warper = MeshWarper(model.triangles, (model.size, model.size))
        track = model.track
        # obliquely seen points get a symmetric depth (sides.py); it moves them along the photo's rays only
        self._shape_offset = model.sides.shape_offset if model.sides is not None else None
        rest = track.landmarks3d[0] if self._shape_offset is None else track.landmarks3d[0] + self._shape_offset
        self._src_proj = project_to_crop(track, model.to_crop, rest, track.pose[0])
        self._residual = model.rest_xy[:N_FACE] - self._src_proj[:, :2]
        self._oval = np.array(FACE_OVAL)
        self._inner = np.array(LIPS_INNER)
        self._mouth_key: float | None = None
        self._side_key: tuple[float, float] = (0.0, 0.0)
        theta = 2 * np.pi * np.arange(N_IRIS_RING) / N_IRIS_RING
        self._cos, self._sin = np.cos(theta)[:, None], np.sin(theta)[:, None]

    def vertices(self, pose: np.ndarray, shape: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Target crop positions [V,2] and depths [V] of every model vertex for `pose` [6] and `shape` [478,3]."""
        m = self.model
        cm = m.px_per_cm
        if self._shape_offset is not None:
            shape = shape + self._shape_offset
        dst = np.empty((m.n_vertices, 2), np.float32)
        depth = np.empty(m.n_vertices, np.float32)
        proj = project_to_crop(m.track, m.to_crop, shape, pose)
        face = proj[:, :2] + self._residual
        for eye in m.eyes:
            _slide_upper_lid(face, eye)
        dst[:N_FACE], depth[:N_FACE] = face, proj[:, 2]
        # surround: rigid motion of the oval-depth plane, pulled towards the oval's actual motion near the face,
        # faded to zero at the border
        n_sur = m.n_surround
        rest_sur = m.rest_xy[N_FACE:N_FACE + n_sur]
        rigid = project_to_crop(m.track, m.to_crop, m.surround_canon, pose)
        oval_rigid = project_to_crop(m.track, m.to_crop, m.oval_plane_canon, pose)[:, :2]
        nonrigid = m.surround_interp @ (face[self._oval] - oval_rigid)
        move = (rigid[:, :2] - rest_sur) + nonrigid
        dst[N_FACE:N_FACE + n_sur] = rest_sur + m.surround_weight[:, None] * move
        depth[N_FACE:N_FACE + n_sur] = rigid[:, 2] + SURROUND_DEPTH_CM * cm
        for eye in m.eyes:
            cidx = np.array(eye.contour)
            n_c = len(cidx)
            o = eye.interior_offset
            dst[o:o + n_c] = face[cidx]
            depth[o:o + n_c] = proj[cidx, 2] + SCLERA_DEPTH_CM * cm
            centre = face[eye.iris[0]]
            ring = face[list(eye.iris[1:])]
            u, v = (ring[0] - ring[2]) / 2, (ring[3] - ring[1]) / 2
            f = eye.fan_offset
            dst[f] = centre
            dst[f + 1:f + 1 + N_IRIS_RING] = centre + self._cos * u + self._sin * v
            fan = dst[f:f + 1 + N_IRIS_RING]
            nearest = np.argmin(np.linalg.norm(fan[:, None, :] - face[cidx][None], axis=-1), axis=1)
            depth[f:f + 1 + N_IRIS_RING] = proj[cidx[nearest], 2] + IRIS_DEPTH_CM * cm
        mo = m.mouth_offset
        inner = face[self._inner]
        dst[mo:mo + 21] = inner_vertices(inner)
        inner_depth = proj[self._inner, 2] + MOUTH_DEPTH_CM * cm
        depth[mo:mo + 20] = inner_depth
        depth[mo + 20] = inner_depth.mean()
        return dst, depth

    def update_mouth_texture(self, opening: float) -> None:
        """Write the inner-mouth texture for `opening` into the atlas (prior, blended with the photo's own
        inner mouth where the photo's mouth is already open that wide)."""
        key = round(float(opening), 3)
        if key == self._mouth_key:
            return
        self._mouth_key = key
        m = self.model
        tex = person_texture(self.prior, opening, m.mouth_stats)
        if m.mouth_scale > 1:
            tex = cv2.resize(tex, (PATCH_W * m.mouth_scale, PATCH_H * m.mouth_scale), interpolation=cv2.INTER_CUBIC)
        tex = compose_open_mouth(tex, m.source_mouth_patch, m.source_opening, opening)
        x, y = m.mouth_patch_origin
        h, w = tex.shape[:2]
        self.atlas[y:y + h, x:x + w] = np.clip(tex + 0.5, 0, 255).astype(np.uint8)

    def update_side_texture(self, pose: np.ndarray) -> None:
        """Blend each side's completion (see `sides.py`) into the atlas's photo crop as far as `pose` turns that
        side into view; at the photo's own pose (weights 0) the crop is the photo, untouched."""
        sides = self.model.sides
        if sides is None:
            return
        from ..face.geometry import axis_angle_to_matrix

        w = sides.weights(axis_angle_to_matrix(np.asarray(pose[:3], np.float64)))
        key = (round(float(w[0]), 2), round(float(w[1]), 2))
        if key == self._side_key:
            return
        x0, x1, y0, y1 = sides.box
        a = np.minimum(key[0] * sides.alpha[0] + key[1] * sides.alpha[1], 1.0)[..., None]
        photo = self.model.crop[y0:y1, x0:x1].astype(np.float32)
        self.atlas[y0:y1, x0:x1] = np.clip(photo + a * (sides.texture - photo) + 0.5, 0, 255).astype(np.uint8)
        self._side_key = key

    def render(self, pose: np.ndarray, shape: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """One RGB uint8 crop frame [size, size, 3] at `pose` [6] with canonical landmarks `shape` [478, 3]."""
        dst, depth = self.vertices(np.asarray(pose, np.float32), np.asarray(shape, np.float32))
        self.update_side_texture(pose)
        opening = float(mouth_opening(dst[self.model.mouth_offset:self.model.mouth_offset + 20]))
        if opening >= MIN_SYNTH_OPENING:
            self.update_mouth_texture(opening)
        return self.warper.warp(self.atlas, self.model.src_xy, dst, depth=depth, out=out)


LID_FOLLOW = (0.85, 0.35)  # how much of the lid's excess stretch the first / second ring above it takes up


def _slide_upper_lid(face: np.ndarray, eye) -> None:
    """Closing lids slide down as a sheet: keep the lash band (contour to the ring above) at its photo height
    by moving the rings above down with the contour, so the stretch lands in the smooth skin under the brow
    instead of smearing the lashes over the eye. Modifies `face` [478, 2] in place."""
    upper, ring1, ring2 = eye.lid
    corners = face[eye.contour[0]] - face[eye.contour[8]]
    ratio = float(np.linalg.norm(corners)) / max(float(eye.src_width), 1e-6)
    v = face[upper] - face[ring1]
    length = np.linalg.norm(v, axis=1)
    excess = np.maximum(length - eye.lid_gap * ratio, 0.0)
    if not excess.any():
        return
    shift = v / np.maximum(length, 1e-6)[:, None] * excess[:, None]
    for ring, follow in ((ring1, LID_FOLLOW[0]), (ring2, LID_FOLLOW[1])):
        for j in np.unique(ring):
            moved = shift[ring == j].mean(0)
            face[j] += follow * moved


def paste_back(model: PortraitModel, frame: np.ndarray, original: np.ndarray, feather: float = 0.04) -> np.ndarray:
    """The original photo with the crop `frame` pasted into its box.

    A pixel-aligned native-resolution crop (`build_portrait(size=None)`) is copied in as is: its border never
    moves, so it meets the photo exactly. A resampled crop is scaled back and its outer `feather` fraction blends
    smoothly into the photo (hiding the resampling differences at the seam).
    """
    box = model.box
    h, w = original.shape[:2]
    if box.is_pixel_aligned and frame.shape[0] == int(box.side):
        out = original.copy()
        x0, y0, n = int(box.x0), int(box.y0), int(box.side)
        out[y0:y0 + n, x0:x0 + n] = frame
        return out
    x0, y0 = int(np.floor(box.x0)), int(np.floor(box.y0))
    x1, y1 = min(int(np.ceil(box.x0 + box.side)) + 1, w), min(int(np.ceil(box.y0 + box.side)) + 1, h)
    k = box.side / frame.shape[0]
    m = np.array([[k, 0, box.x0 - x0], [0, k, box.y0 - y0]], np.float32)
    size = (x1 - x0, y1 - y0)
    interp = cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA
    patch = cv2.warpAffine(frame, m, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(_feather_mask(frame.shape[0], feather), m, size, flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT)[..., None]
    out = original.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(region + alpha * (patch.astype(np.float32) - region) + 0.5, 0, 255).astype(np.uint8)
    return out


def _feather_mask(size: int, feather: float) -> np.ndarray:
    """[size, size] float32: 1 inside, a smooth ramp to 0 over the outer `feather` fraction at each edge."""
    ramp = max(1.0, feather * size)
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)
    t = np.clip(d / ramp, 0.0, 1.0)
    s = t * t * (3 - 2 * t)
    return np.minimum(s[:, None], s[None, :]).astype(np.float32)


def render_frames(model: PortraitModel, poses: Iterable[np.ndarray], shapes: Iterable[np.ndarray],
                  original: np.ndarray | None = None, prior: MouthPrior | None = None) -> Iterator[np.ndarray]:
    """Yield one frame per (pose, shape) pair: crop frames, or full-size photos when `original` is given."""
    renderer = PortraitRenderer(model, prior)
    for pose, shape in zip(poses, shapes):
        frame = renderer.render(pose, shape)
        yield paste_back(model, frame, original) if original is not None else frame
