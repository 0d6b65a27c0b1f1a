"""Named index sets of mediapipe's 478-point face mesh (468 mesh + 2×5 iris), ordered as closed polygons.

"Eye 0" is the eye on the image's left (the person's right eye); "eye 1" is on the image's right.
"""
from __future__ import annotations

import functools
import inspect
import re

import numpy as np

FACE_OVAL = (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400,
             378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338)
LIPS_OUTER = (0, 37, 39, 40, 185, 61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267)
LIPS_INNER = (13, 82, 81, 80, 191, 78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312)
EYE_0 = (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7)
EYE_1 = (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249)
BROW_0 = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
BROW_1 = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
IRIS_0 = (468, 469, 470, 471, 472)  # centre first, then the ring
IRIS_1 = (473, 474, 475, 476, 477)

# Eye corners (outer, inner) and lid pairs (upper, lower) used for the eye aspect ratio.
EYE_CORNERS = ((33, 133), (263, 362))
EYE_LIDS = (((160, 144), (159, 145), (158, 153)), ((387, 373), (386, 374), (385, 380)))
MOUTH_GAP = (13, 14)  # inner upper / inner lower lip midpoints
MOUTH_CORNERS = (61, 291)
NOSE_TIP = 1
CHIN = 152
FOREHEAD = 10


@functools.lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """The mesh's 852 triangles [852, 3], in mediapipe's own order, parsed from its connection list source.

    The runtime constant is a set of edges (order lost); the source text keeps a→b→c triples in order.
    """
    from mediapipe.python.solutions import face_mesh_connections as fmc

    src = inspect.getsource(fmc)
    start = src.index("FACEMESH_TESSELATION")
    stop = src.index("])", start)
    pairs = [(int(a), int(b)) for a, b in re.findall(r"\((\d+),\s*(\d+)\)", src[start:stop])]
    tris = np.array([(pairs[k][0], pairs[k + 1][0], pairs[k + 2][0]) for k in range(0, len(pairs), 3)], np.int32)
    return tris


def eye_centres(points: np.ndarray) -> np.ndarray:
    """Centre of each eye (mean of its two corners): [..., 2, D] from points [..., 478, D]."""
    return np.stack([(points[..., a, :] + points[..., b, :]) / 2 for a, b in EYE_CORNERS], axis=-2)


def interocular(points: np.ndarray) -> np.ndarray:
    """Distance between the two eye centres, per frame ([...] from [..., 478, D])."""
    c = eye_centres(points)
    return np.linalg.norm(c[..., 0, :] - c[..., 1, :], axis=-1)
