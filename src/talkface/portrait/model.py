"""Portrait model: one photo turned into a 3D-aware warp model.

The face is tracked on a bounded-size copy (huge photos stay cheap), lifted to 3D (the track's canonical landmarks
and head pose), and the renderer works in a square face crop (`size`², default 512) cut from the original at full
quality. The crop is covered by one triangle mesh whose vertices are, in order:

- the 478 face landmarks (mediapipe topology; eyes and mouth are holes in it);
- the surround: rings around the face oval plus crop-border points (Delaunay), whose motion is the head's rigid
  motion of a plane at the oval's mean depth, corrected near the face towards the oval's actual motion (depth
  and expression), faded to exactly zero at the crop border, and to zero on the background (person
  segmentation), so hair, neck and shoulders follow the head while the wall behind it does not bend;
- per eye, a copy of the 16 lid-contour points that fills the eye opening from an "eyeball" copy of the photo
  in which the iris has been inpainted away (so the opening shows sclera, never a stretched iris);
- per eye, an iris disc (a fan of 16 triangles) sampled from an iris texture completed by radial symmetry,
  drawn behind the lids and in front of the sclera, so the lids clip it and gaze can move it;
- a fan filling the inner-lip polygon from the inner-mouth texture (the shipped prior, recoloured per person).

Parts of the face the photo sees almost edge-on get a side completion (`sides.py`): their mirror partners'
texture, blended in per frame only as far as the head turns them into view.

All textures live in one atlas image: [photo crop; eyeball copy; a strip holding the iris and mouth patches].
Per frame the renderer (`render.py`) also slides closing upper lids down as a sheet (the rings above the lid
contour follow it), so a closed eye shows lid skin with the lashes at the bottom instead of smeared lashes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError
from ..face import FaceTrack, canonical_face
from ..face.landmarks import (EYE_0, EYE_1, FACE_OVAL, IRIS_0, IRIS_1, LIPS_INNER, LIPS_OUTER, triangles as
                              face_triangles)
from ..render.warp import surround_mesh
from .image import CropBox, face_crop_box, load_portrait_image, tracking_copy
from .sides import SideCompletion, blur_large, build_side_completion
from .mouth import (CHEEK_0, CHEEK_1, PATCH_H, PATCH_W, ColourStats, colour_stats, fan_triangles, inner_vertices,
                    mouth_opening, scaled_layout)

N_FACE = 478
N_IRIS_RING = 16
CROP_MARGIN = 2.0  # crop side / face size


@dataclass
class EyeModel:
    """One eye's interior: contour indices, its iris texture place in the atlas and source iris ellipse."""

    contour: tuple[int, ...]  # landmark indices of the lid contour (closed polygon)
    iris: tuple[int, ...]  # landmark indices: centre, then the ring
    patch_centre: np.ndarray  # [2] atlas coordinates of the iris texture centre
    src_axes: np.ndarray  # [2, 2] source iris half-axes (columns u, v) in pixels
    interior_offset: int  # first vertex of the contour copy
    fan_offset: int  # first vertex of the iris fan (centre, then ring)
    lid: np.ndarray  # [3, 7] landmark indices: upper lid contour, the ring above it, the ring above that
    lid_gap: np.ndarray  # [7] source distance (crop px) from each upper-contour point to its ring-above point
    src_width: float  # source distance between the eye corners (crop px)


@dataclass
class PortraitModel:
    """Everything the renderer needs about one photo (see module doc); coordinates are crop pixels."""

    size: int  # crop side in pixels (the renderer's output)
    crop: np.ndarray  # [size, size, 3] uint8 photo crop
    atlas: np.ndarray  # [A_h, A_w, 3] uint8 texture atlas (crop, eyeball copy, patch strip)
    box: CropBox  # the crop in original-image pixels
    original_shape: tuple[int, int]  # (height, width) of the original photo
    track: FaceTrack  # the one-frame track, in tracking-copy pixels
    to_crop: tuple[float, float, float]  # (k, bx, by): crop = k * track_px + (bx, by)
    src_xy: np.ndarray  # [V, 2] float32 atlas coordinates of every vertex
    rest_xy: np.ndarray  # [V, 2] float32 crop coordinates of every vertex at the source expression and pose
    triangles: np.ndarray  # [T, 3] int32, all oriented positive in the source
    n_surround: int  # surround vertices after the face landmarks (rings + border)
    surround_canon: np.ndarray  # [n_surround, 3] canonical-space points the surround moves with
    surround_weight: np.ndarray  # [n_surround] motion weight (0 at the crop border)
    surround_interp: np.ndarray  # [n_surround, len(FACE_OVAL)] oval residual weights (decaying away from the face)
    oval_plane_canon: np.ndarray  # [len(FACE_OVAL), 3] the oval's source positions lifted onto the surround plane
    eyes: tuple[EyeModel, EyeModel]
    mouth_offset: int  # first vertex of the mouth fan (20 contour copies + centre)
    mouth_patch_origin: tuple[int, int]  # (x, y) of the mouth patch in the atlas
    mouth_scale: int  # the atlas mouth patch is (PATCH_H, PATCH_W) times this
    mouth_stats: ColourStats  # lip luminance and skin tint for recolouring the prior
    source_opening: float  # the photo's own mouth opening (gap / width)
    source_mouth_patch: np.ndarray | None  # the photo's own inner mouth in the patch frame, if it is open
    px_per_cm: float  # crop pixels per canonical cm at the head
    meta: dict = field(default_factory=dict)
    sides: SideCompletion | None = None  # texture for obliquely seen face parts turned into view (None: not needed)

    @property
    def n_vertices(self) -> int:
        return int(self.src_xy.shape[0])


def build_portrait(image: str | Path | np.ndarray, size: int | None = 512,
                   background: tuple[int, int, int] = (255, 255, 255), track: FaceTrack | None = None,
                   face_index: int | None = None, pin_background: bool = True) -> PortraitModel:
    """Build the portrait model of one photo (a path or an RGB uint8 array).

    `size` is the side of the square face crop the renderer outputs (512 or 256 as in SadTalker); None renders the
    crop at the photo's own resolution (pixel-aligned), which is what full-image paste-back wants: frames then go
    back into the photo without any resampling. Raises UserError when the photo has no face or several faces,
    unless `face_index` picks one of them (0 = the leftmost face). `pin_background` keeps surround points that
    the person segmentation puts on the background still (False: the whole surround moves with the head).
    """
    rgb = load_portrait_image(image, background) if not isinstance(image, np.ndarray) else _as_rgb(image)
    small, factor = tracking_copy(rgb)
    if track is None:
        track = track_image(small, face_index)
    lm_orig = track.landmarks2d[0] * factor
    box = face_crop_box(lm_orig[:468], rgb.shape[1], rgb.shape[0], CROP_MARGIN)
    if size is None:
        box = box.pixel_aligned()
        size = int(box.side)
    if not 16 <= size <= 8192:
        raise UserError(f"the output size must be between 16 and 8192 pixels (got {size}).")
    crop = box.extract(rgb, size)
    k = factor * size / box.side
    to_crop = (k, -box.x0 * size / box.side, -box.y0 * size / box.side)
    return _assemble(crop, rgb.shape[:2], box, track, to_crop, size, pin_background)


def track_image(rgb: np.ndarray, face_index: int | None = None) -> FaceTrack:
    """Track the one face of a still image (RGB uint8) as a one-frame FaceTrack; UserError if none or several.

    With `face_index`, faces are numbered left to right and all but the chosen one are masked out first.
    """
    from ..face.pipeline import build_track, check_raw
    from ..face.tracker import track_raw

    if face_index is not None:
        rgb = _keep_one_face(rgb, face_index)
    raw = track_raw([rgb])
    check_raw(raw, "the image", 25.0)
    return build_track(raw, 25.0, source="image", smooth=False)


def _keep_one_face(rgb: np.ndarray, face_index: int) -> np.ndarray:
    """A copy of `rgb` in which every detected face except number `face_index` (left to right) is flattened."""
    from ..face.mediapipe_models import FullRangeDetector

    detector = FullRangeDetector()
    try:
        boxes = sorted(detector.detect(rgb), key=lambda b: b.centre[0])
    finally:
        detector.close()
    if not boxes:
        raise UserError("no face found in the image.")
    if isinstance(face_index, bool) or not 0 <= int(face_index) < len(boxes):
        raise UserError(f"--face-index must be from 0 to {len(boxes) - 1}: the image has {len(boxes)} face(s), "
                        "numbered from the left.")
    keep = boxes[int(face_index)]
    h, w = rgb.shape[:2]
    out = rgb.copy()
    protect = np.zeros((h, w), bool)
    protect[_box_slice(keep, 1.3, h, w)] = True
    fill = rgb.reshape(-1, 3).mean(0).astype(np.uint8)
    for box in boxes:
        if box is keep:
            continue
        region = np.zeros((h, w), bool)
        region[_box_slice(box, 1.4, h, w)] = True
        out[region & ~protect] = fill
    return out


def _box_slice(box, grow: float, h: int, w: int) -> tuple[slice, slice]:
    """Row/column slices of a face box grown `grow` times about its centre, clipped to the image."""
    cx, cy = box.centre
    half = box.size * grow / 2
    return (slice(max(int(cy - half), 0), min(int(cy + half) + 1, h)),
            slice(max(int(cx - half), 0), min(int(cx + half) + 1, w)))


def project_to_crop(model_track: FaceTrack, to_crop: tuple[float, float, float], shape: np.ndarray,
                    pose: np.ndarray) -> np.ndarray:
    """Canonical points [N,3] under `pose` [6] → crop pixels and depth [N,3] (weak perspective, as the tracker)."""
    from ..face.geometry import project_canonical

    p = project_canonical(np.asarray(shape, np.float64)[None], np.asarray(pose, np.float64)[None],
                          model_track.intrinsics)[0]
    k, bx, by = to_crop
    return np.stack([p[:, 0] * k + bx, p[:, 1] * k + by, p[:, 2] * k], 1).astype(np.float32)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an in-memory image: RGB uint8 [H, W, 3]."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise UserError(f"expected an RGB uint8 image, got {image.dtype} {image.shape}.")
    return np.ascontiguousarray(image)


class _MeshParts:
    """Collects vertex blocks (atlas source and crop rest positions) and their triangles into one mesh."""

    def __init__(self):
        self.src: list[np.ndarray] = []
        self.rest: list[np.ndarray] = []
        self.tris: list[np.ndarray] = []
        self.n = 0

    def add(self, src: np.ndarray, rest: np.ndarray, tris: np.ndarray | None = None) -> int:
        """Append a vertex block (and triangles indexing into it); returns the block's first vertex index."""
        offset = self.n
        self.src.append(np.asarray(src, np.float32))
        self.rest.append(np.asarray(rest, np.float32))
        if tris is not None:
            self.tris.append(offset + np.asarray(tris, np.int64))
        self.n += len(src)
        return offset

    def add_triangles(self, tris: np.ndarray) -> None:
        """Append triangles given in global vertex indices (e.g. joining two blocks)."""
        self.tris.append(np.asarray(tris, np.int64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(src_xy [V,2], rest_xy [V,2], triangles [T,3]) of everything added."""
        return (np.concatenate(self.src).astype(np.float32), np.concatenate(self.rest).astype(np.float32),
                np.concatenate(self.tris).astype(np.int32))


def _assemble(crop: np.ndarray, original_shape, box: CropBox, track: FaceTrack, to_crop, size: int,
              pin_background: bool = True) -> PortraitModel:
    """Lay out the vertices, triangles and atlas of the model (see module doc)."""
    k = to_crop[0]
    src_face = track.landmarks2d[0] * k + np.array(to_crop[1:], np.float32)
    face_size = float(np.max(src_face[:468].max(0) - src_face[:468].min(0)))
    parts = _MeshParts()
    face_tris = _orient_like_canonical(face_triangles())
    parts.add(src_face, src_face, face_tris)
    sur = _surround_part(src_face, track, to_crop, size, face_size,
                         _person_probability(crop) if pin_background else None)
    n_sur = len(sur["vertices"])
    parts.add(sur["vertices"], sur["vertices"])
    parts.add_triangles(sur["triangles"])  # they join the oval landmarks to the surround block

    eyeball = crop.copy()
    eye_sets = ((EYE_0, IRIS_0), (EYE_1, IRIS_1))
    textures = [_eye_textures(crop, src_face, contour, iris, eyeball) for contour, iris in eye_sets]
    inner_src = src_face[list(LIPS_INNER)]
    mouth_scale = int(np.clip(np.ceil(float(np.linalg.norm(inner_src[5] - inner_src[15])) / PATCH_W), 1, 4))
    atlas, iris_centres, mouth_origin = _build_atlas(crop, eyeball, [t["patch"] for t in textures], mouth_scale)
    eyes = tuple(_eye_part(parts, src_face, contour, iris, tex, centre, size)
                 for (contour, iris), tex, centre in zip(eye_sets, textures, iris_centres))
    layout = scaled_layout(mouth_scale)
    mouth_offset = parts.add(layout + np.array(mouth_origin, np.float32), inner_vertices(inner_src), fan_triangles())
    source_opening = float(mouth_opening(inner_src))
    source_patch = None
    if source_opening > 0.08:
        from ..render.warp import MeshWarper
        source_patch = MeshWarper(fan_triangles(), (PATCH_H * mouth_scale, PATCH_W * mouth_scale)).warp(
            crop, inner_vertices(inner_src), layout)
    stats = colour_stats(crop, src_face[list(LIPS_OUTER)], inner_src,
                         [src_face[list(CHEEK_0)], src_face[list(CHEEK_1)]])
    src_xy, rest_xy, all_tris = parts.arrays()
    proj = project_to_crop(track, to_crop, track.landmarks3d[0], track.pose[0])
    from ..face.geometry import axis_angle_to_matrix
    sides = build_side_completion(crop, src_face, track.landmarks3d[0], axis_angle_to_matrix(track.pose[0, :3]),
                                  face_tris, face_size)
    return PortraitModel(
        size=size, crop=crop, atlas=atlas, box=box, original_shape=tuple(original_shape), track=track,
        to_crop=tuple(float(v) for v in to_crop), src_xy=src_xy, rest_xy=rest_xy, triangles=all_tris,
        n_surround=n_sur, surround_canon=sur["canon"], surround_weight=sur["weights"],
        surround_interp=sur["interp"], oval_plane_canon=sur["oval_plane"], eyes=eyes, mouth_offset=mouth_offset,
        mouth_patch_origin=mouth_origin, mouth_scale=mouth_scale, mouth_stats=stats, source_opening=source_opening,
        source_mouth_patch=source_patch, px_per_cm=float(track.scale[0] * k),
        meta={"face_size_px": face_size, "fit_residual_px": float(np.abs(proj[:, :2] - src_face).max())},
        sides=sides)


def _person_probability(crop: np.ndarray) -> np.ndarray | None:
    """[size, size] person-vs-background probability of the crop (mediapipe selfie segmentation), smoothed so a
    mesh vertex reads its neighbourhood; None if the segmenter is unavailable (then everything counts as person)."""
    try:
        from ..face import person_masks
        prob = next(person_masks([crop]))
    except (ImportError, OSError, RuntimeError):  # the segmenter only refines the surround's motion
        return None
    return blur_large(np.asarray(prob, np.float32), max(0.04 * crop.shape[0], 1.0))


def _surround_part(src_face: np.ndarray, track: FaceTrack, to_crop, size: int, face_size: float,
                   person: np.ndarray | None = None) -> dict:
    """The surround mesh outside the face oval and how its vertices move (see module doc).

    With a person probability map `person` [size, size], surround points on the background keep still: the head's
    motion carries hair, ears, neck and shoulders, while a wall behind the head should not bend with it.

    Returns vertices [S,2] (rings and border, after the 478 landmarks), triangles in global vertex indices,
    canonical plane points, fade weights, oval-residual weights and the oval lifted onto the plane.
    """
    oval = np.array(FACE_OVAL)
    shape0 = track.landmarks3d[0]
    sur = surround_mesh(src_face[oval], size, size)
    extra = sur.vertices[sur.n_polygon:]
    remap = np.concatenate([oval, N_FACE + np.arange(len(extra))])
    z_plane = float(shape0[oval, 2].mean())
    d = np.linalg.norm(extra[:, None, :] - src_face[oval][None], axis=-1)
    interp = np.exp(-0.5 * (d / (0.2 * face_size)) ** 2)
    interp /= np.maximum(interp.sum(1, keepdims=True), 1e-12)
    # how much of the oval's own motion (beyond the plane's) a surround point follows: all of it next to the
    # face (hair and ears move with the head's real depth), none far away
    interp *= np.exp(-0.5 * (d.min(1, keepdims=True) / (0.3 * face_size)) ** 2)
    return {"vertices": extra, "triangles": remap[sur.triangles],
            "canon": _lift_to_plane(extra, track, to_crop, z_plane),
            "weights": (sur.weights[sur.n_polygon:] * _on_person(extra, person)).astype(np.float32),
            "interp": interp.astype(np.float32),
            "oval_plane": _lift_to_plane(src_face[oval], track, to_crop, z_plane)}


def _on_person(points: np.ndarray, person: np.ndarray | None) -> np.ndarray:
    """[N] in [0, 1]: how surely each point lies on the person (smoothstep of the probability from 0.2 to 0.8)."""
    if person is None:
        return np.ones(len(points), np.float32)
    h, w = person.shape
    xi = np.clip(np.round(points[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(points[:, 1]).astype(int), 0, h - 1)
    t = np.clip((person[yi, xi] - 0.2) / 0.6, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def _build_atlas(crop: np.ndarray, eyeball: np.ndarray, iris_patches: list[np.ndarray],
                 mouth_scale: int) -> tuple[np.ndarray, list[np.ndarray], tuple[int, int]]:
    """Stack [crop; eyeball copy; strip of iris patches and the mouth patch]; returns the atlas, each iris
    patch's centre and the mouth patch's top-left corner (atlas pixels)."""
    size = crop.shape[0]
    strip_h = max(max(p.shape[0] for p in iris_patches), PATCH_H * mouth_scale) + 2
    strip_w = sum(p.shape[1] + 2 for p in iris_patches) + PATCH_W * mouth_scale + 8
    atlas = np.zeros((2 * size + strip_h, max(size, strip_w), 3), np.uint8)
    atlas[:size, :size] = crop
    atlas[size:2 * size, :size] = eyeball
    x, top = 1, 2 * size + 1
    centres = []
    for patch in iris_patches:
        ps = patch.shape[0]
        atlas[top:top + ps, x:x + ps] = patch
        centres.append(np.array([x + (ps - 1) / 2, top + (ps - 1) / 2], np.float32))
        x += ps + 2
    return atlas, centres, (x + 2, top)


def _eye_part(parts: _MeshParts, src_face: np.ndarray, contour, iris, texture: dict, centre: np.ndarray,
              size: int) -> EyeModel:
    """Add one eye's interior (sampled from the eyeball copy) and iris fan (from its texture) to the mesh."""
    cidx = np.array(contour)
    canon = canonical_face().mean
    interior_offset = parts.add(src_face[cidx] + np.array([0, size], np.float32), src_face[cidx],
                                _polygon_triangles(canon[cidx, :2]))
    theta = 2 * np.pi * np.arange(N_IRIS_RING) / N_IRIS_RING
    axes = texture["axes"]
    ring = centre + np.cos(theta)[:, None] * axes[:, 0] + np.sin(theta)[:, None] * axes[:, 1]
    fan_src = np.concatenate([centre[None], ring])
    c_src = src_face[iris[0]]
    j = np.arange(N_IRIS_RING)
    fan = np.stack([np.zeros_like(j), 1 + j, 1 + (j + 1) % N_IRIS_RING], 1)
    fan_offset = parts.add(fan_src, np.concatenate([c_src[None], c_src + ring - centre]), _orient(fan, fan_src))
    lid = _lid_rings(contour)
    return EyeModel(contour=tuple(contour), iris=tuple(iris), patch_centre=centre, src_axes=axes,
                    interior_offset=interior_offset, fan_offset=fan_offset, lid=lid,
                    lid_gap=np.linalg.norm(src_face[lid[0]] - src_face[lid[1]], axis=1).astype(np.float32),
                    src_width=float(np.linalg.norm(src_face[contour[0]] - src_face[contour[8]])))


def _lid_rings(contour: tuple[int, ...]) -> np.ndarray:
    """[3, 7]: the upper-lid contour of an eye, and for each point the mesh neighbour right above it, twice.

    Found on the canonical face through the triangle adjacency, so no index table has to be maintained.
    """
    mean = canonical_face().mean
    neighbours: dict[int, set[int]] = {}
    for a, b, c in face_triangles():
        for u, v in ((a, b), (b, c), (c, a)):
            neighbours.setdefault(int(u), set()).add(int(v))
            neighbours.setdefault(int(v), set()).add(int(u))
    upper = [int(i) for i in contour[1:8]]
    rings = [upper]
    taken = set(contour)
    for _ in range(2):
        ring = []
        for k in rings[-1]:
            above = [j for j in neighbours[k] if j not in taken and mean[j, 1] < mean[k, 1]]
            ring.append(min(above, key=lambda j: abs(mean[j, 0] - mean[k, 0]) + 0.3 * abs(mean[j, 1] - mean[k, 1])))
        taken |= set(ring)
        rings.append(ring)
    return np.array(rings, np.int64)


def _lift_to_plane(points: np.ndarray, track: FaceTrack, to_crop, z_canon: float) -> np.ndarray:
    """Crop points [N,2] → canonical 3D points on the plane z = `z_canon` that project onto them (source pose)."""
    from ..face.geometry import pose_to_weak

    scale, rot, t = pose_to_weak(track.pose[:1].astype(np.float64), track.intrinsics)
    scale, rot, t = float(scale[0]), rot[0], t[0]
    k, bx, by = to_crop
    q = (np.asarray(points, np.float64) - np.array([bx, by])) / k
    qx, qy = (q[:, 0] - t[0]) / scale, (q[:, 1] - t[1]) / scale
    # canonical X = R^T [qx, qy, d]; choose d so that X_z = z_canon
    d = (z_canon - rot[0, 2] * qx - rot[1, 2] * qy) / np.where(abs(rot[2, 2]) > 1e-3, rot[2, 2], 1e-3)
    cam = np.stack([qx, qy, d], 1)
    return (cam @ rot).astype(np.float32)


def _orient_like_canonical(tris: np.ndarray) -> np.ndarray:
    """Face triangles reordered to positive signed area in the canonical frontal view (x right, y down)."""
    return _orient(np.asarray(tris, np.int32), canonical_face().mean[:, :2])


def _orient(tris: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Reorder triangles [T,3] so each has positive signed area at positions `xy`."""
    a, b, c = xy[tris[:, 0]], xy[tris[:, 1]], xy[tris[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (c[:, 0] - a[:, 0]) * (b[:, 1] - a[:, 1])
    out = np.array(tris, np.int32, copy=True)
    flip = area < 0
    out[flip, 1], out[flip, 2] = tris[flip, 2], tris[flip, 1]
    return out


def _polygon_triangles(poly: np.ndarray) -> np.ndarray:
    """Triangulate a simple closed polygon [N,2] (Delaunay of its vertices, keeping triangles inside it)."""
    from scipy.spatial import Delaunay

    tri = Delaunay(poly.astype(np.float64)).simplices
    cen = poly[tri].mean(1).astype(np.float32)
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    inside = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in cen])
    return _orient(tri[inside].astype(np.int32), poly)


def _eye_textures(crop: np.ndarray, pts: np.ndarray, contour, iris, eyeball: np.ndarray) -> dict:
    """Complete the iris texture of one eye and inpaint the iris out of `eyeball` (modified in place).

    The iris is visible only inside the lid contour; hidden parts are filled with the mean colour of the
    visible iris at the same radius (an iris is close to rotationally symmetric). If almost nothing of it is
    visible (eye closed in the photo), a plain dark iris colour stands in.
    """
    c = pts[iris[0]]
    ring = pts[list(iris[1:])]
    axes = np.stack([(ring[0] - ring[2]) / 2, (ring[3] - ring[1]) / 2], 1).astype(np.float32)
    radius = float(np.mean(np.linalg.norm(ring - c, axis=1)))
    radius = max(radius, 1.5)
    half = int(np.ceil(radius)) + 2
    ps = 2 * half + 1
    h, w = crop.shape[:2]
    eye_mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(eye_mask, [np.round(pts[list(contour)]).astype(np.int32)], 1)
    eye_inner = cv2.erode(eye_mask, np.ones((3, 3), np.uint8))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    gx, gy = xx + c[0], yy + c[1]
    patch = cv2.remap(crop, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    vis = cv2.remap(eye_inner.astype(np.float32), gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) > 0.99
    rho = np.sqrt(xx ** 2 + yy ** 2) / radius
    bins = np.minimum((rho * 8).astype(int), 15)
    disc = rho <= 1.05
    filled = patch.copy()
    fallback = np.array([70, 52, 40], np.float32)
    visible_disc = vis & disc
    for b in range(16):
        sel = bins == b
        have = sel & visible_disc
        colour = patch[have].mean(0) if have.sum() >= 3 else None
        if colour is None:
            near = visible_disc & (np.abs(bins - b) <= 2)
            colour = patch[near].mean(0) if near.sum() >= 3 else fallback
        filled[sel & ~vis] = colour
    # eyeball copy: the iris region inside the (slightly grown) eye opening refilled with sclera
    grown = cv2.dilate(eye_mask, np.ones((3, 3), np.uint8))
    disc_mask = np.zeros((h, w), np.uint8)
    r_out = int(np.ceil(radius * 1.2))
    cv2.circle(disc_mask, (int(round(c[0])), int(round(c[1]))), r_out, 1, -1)
    _fill_rows_from_sides(eyeball, disc_mask & grown, eye_inner)
    return {"patch": np.clip(filled + 0.5, 0, 255).astype(np.uint8), "axes": axes, "size": ps}


def _fill_rows_from_sides(image: np.ndarray, mask: np.ndarray, allowed: np.ndarray) -> None:
    """Fill masked pixels row by row by interpolating the nearest unmasked `allowed` pixels left and right.

    Used to paint sclera over the iris: the lids above and below are never sampled (they would darken it).
    """
    ys = np.flatnonzero(mask.any(1))
    h, w = mask.shape
    for y in ys:
        xs = np.flatnonzero(mask[y])
        x0, x1 = xs.min(), xs.max()
        left = [x for x in range(x0 - 1, max(x0 - 6, -1), -1) if allowed[y, x] and not mask[y, x]]
        right = [x for x in range(x1 + 1, min(x1 + 6, w)) if allowed[y, x] and not mask[y, x]]
        cl = image[y, left[0]].astype(np.float32) if left else None
        cr = image[y, right[0]].astype(np.float32) if right else None
        if cl is None and cr is None:
            continue
        cl = cr if cl is None else cl
        cr = cl if cr is None else cr
        t = ((xs - (x0 - 1)) / max(x1 - x0 + 2, 1)).astype(np.float32)[:, None]
        image[y, xs] = np.clip(cl * (1 - t) + cr * t + 0.5, 0, 255).astype(np.uint8)
