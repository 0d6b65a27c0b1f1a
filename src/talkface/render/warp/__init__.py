"""Mesh-based image warp (knows nothing about faces): z-buffered, anti-aliased piecewise-affine backward
mapping in numba, plus triangulation helpers for a surround whose motion fades to zero at the image border."""
from .mesh import (SurroundMesh, border_distance, border_points, edge_neighbours, fade_weights, grid_mesh,
                   polygon_distance, surround_mesh)
from .warp import MeshWarper, warp_mesh

__all__ = ["MeshWarper", "SurroundMesh", "border_distance", "border_points", "edge_neighbours", "fade_weights",
           "grid_mesh", "polygon_distance", "surround_mesh", "warp_mesh"]
