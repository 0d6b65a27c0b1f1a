"""The avatar model: face + inside-mouth structure fields, their motion fields, fusion and rendering.

Layer 2 (dataset → model → trainer): `forward` returns named outputs, `loss_dict` / `metrics_dict` named
losses and metrics. Fusion: the deformed face and mouth Gaussians are rasterized together in one depth-sorted
pass (the cavity sits behind the lips, so depth order does what TalkingGaussian's image-space blend does, at
half the rasterization cost). The head is composited over a frame: rgb + (1 - alpha) * frame.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..face import canonical_face, triangles
from ..face.landmarks import EYE_0, EYE_1, LIPS_INNER, LIPS_OUTER
from ..render.splat import Camera, rasterize
from .config import ModelConfig
from .dataset import EYE_FEATURES
from .condition import MOUTH_COEFFS, UPPER_REGIONS, UpperBasis, upper_indices
from .fields import AudioNet, Deformation, ExpressionNet, MotionField, StructureField, hook_feature

FACE_BOUND_CM = 12.0
MOUTH_BOUND_CM = 4.0


def sample_face_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points on the canonical face surface (area-weighted over triangles, eye holes closed), cm."""
    canon = canonical_face().mean.astype(np.float64)
    tris = canon[triangles()]  # [852, 3, 3]
    fans = []
    for eye in (EYE_0, EYE_1):
        c = canon[list(eye)].mean(0)
        c = c + np.array([0.0, 0.0, 0.3])  # eyeballs sit a little behind the lid rim
        fans += [np.stack([canon[eye[i]], canon[eye[(i + 1) % len(eye)]], c]) for i in range(len(eye))]
    tris = np.concatenate([tris, np.stack(fans)])
    area = 0.5 * np.linalg.norm(np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0]), axis=1)
    pick = rng.choice(len(tris), n, p=area / area.sum())
    u, v = rng.random(n), rng.random(n)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tris[pick]
    return (t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])).astype(np.float32)


def mouth_geometry() -> tuple[np.ndarray, np.ndarray]:
    """Centre [3] and semi-axes [3] (cm) of the mouth cavity: an ellipsoid just behind the inner lip contour."""
    canon = canonical_face().mean
    inner = canon[list(LIPS_INNER)]
    outer = canon[list(LIPS_OUTER)]
    half_width = 0.5 * (inner[:, 0].max() - inner[:, 0].min())
    centre = inner.mean(0) + np.array([0.0, 0.0, 1.0], np.float32)
    axes = np.array([half_width * 0.9, 0.5 * (outer[:, 1].max() - outer[:, 1].min()) + 0.6, 1.2], np.float32)
    return centre.astype(np.float32), axes


def sample_mouth_points(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points filling the back half-shell of the mouth cavity ellipsoid (teeth, tongue, dark interior), cm."""
    centre, axes = mouth_geometry()
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    d[:, 2] = np.abs(d[:, 2])  # the half facing away from the camera
    r = rng.uniform(0.5, 1.0, size=(n, 1)) ** (1 / 3)
    return (centre + d * r * axes).astype(np.float32)


def nearest_spacing(points: np.ndarray) -> np.ndarray:
    """Mean distance to the 3 nearest neighbours of each point [N] (initial Gaussian size)."""
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(points, k=4)
    return np.maximum(dist[:, 1:].mean(1), 1e-3)


def initial_colors(points: np.ndarray, image: np.ndarray, w2c: np.ndarray, intr: np.ndarray) -> np.ndarray:
    """Colour of each point [N, 3] in 0..1 sampled from one training crop under its camera (a fast start)."""
    cam = points @ w2c[:3, :3].T + w2c[:3, 3]
    u = np.clip(intr[0] * cam[:, 0] / cam[:, 2] + intr[2], 0, image.shape[1] - 1).astype(int)
    v = np.clip(intr[1] * cam[:, 1] / cam[:, 2] + intr[3], 0, image.shape[0] - 1).astype(int)
    return image[v, u].astype(np.float32) / 255.0


def make_camera(w2c: np.ndarray | Tensor, intr: np.ndarray | Tensor, resolution: int) -> Camera:
    """Rasterizer camera of one frame's head pose and crop intrinsics."""
    fx, fy, cx, cy = (float(x) for x in intr)
    return Camera(fx, fy, cx, cy, resolution, resolution, torch.as_tensor(np.asarray(w2c), dtype=torch.float32))


BIND_K = 4  # landmarks each Gaussian follows (inverse-distance weights)


def landmark_binding(means: Tensor, landmarks: Tensor, k: int = BIND_K) -> tuple[Tensor, Tensor]:
    """Each Gaussian centre [N, 3] bound to its k nearest canonical landmarks [L, 3]: indices [N, k] and
    inverse-distance weights [N, k] summing to 1 (the 3D-aware mesh warp of the Gaussians)."""
    d = torch.cdist(means.detach(), landmarks)
    dist, idx = d.topk(k, dim=1, largest=False)
    w = 1.0 / (dist + 0.1) ** 2
    return idx, w / w.sum(1, keepdim=True)


class ExpressionRig(nn.Module):
    """Regional expression coefficients → per-landmark offsets [478, 3] (cm): the geometric part of the
    expression motion. The mouth region uses the shipped morphable model's basis (the generator's vocabulary;
    constants, not stored), the eyes and brows the avatar's own `UpperBasis` (stored with the avatar as persistent
    buffers: `upper_reference`, `basis_eyes`, `stdev_eyes`, `basis_brows`, `stdev_brows`). Lips, jaw and chin, lids,
    eye shape and irises, brows and forehead then move by exactly what the (tracked or generated) coefficients
    say; the learned motion fields only add the person-specific residual (teeth, wrinkles, shading). The regions
    are the shipped model's disjoint vertex sets."""

    def __init__(self, mouth: bool = True, upper: UpperBasis | None = None):
        super().__init__()
        from ..face import shipped_morphable

        model = shipped_morphable()
        self.regions = (("mouth",) if mouth else ()) + (UPPER_REGIONS if upper is not None else ())
        if mouth:
            self.register_buffer("basis_mouth", torch.as_tensor(model.bases["mouth"], dtype=torch.float32),
                                 persistent=False)
            self.register_buffer("stdev_mouth", torch.as_tensor(model.stdev["mouth"], dtype=torch.float32),
                                 persistent=False)
            self.register_buffer("index_mouth", torch.as_tensor(model.regions["mouth"], dtype=torch.long),
                                 persistent=False)
        if upper is not None:
            self.register_buffer("upper_reference", torch.as_tensor(upper.reference, dtype=torch.float32))
            for r, idx in upper_indices().items():
                self.register_buffer(f"basis_{r}", torch.as_tensor(upper.bases[r], dtype=torch.float32))
                self.register_buffer(f"stdev_{r}", torch.as_tensor(upper.stdev[r], dtype=torch.float32))
                self.register_buffer(f"index_{r}", torch.as_tensor(idx, dtype=torch.long), persistent=False)
        self.register_buffer("landmarks", torch.as_tensor(canonical_face().mean, dtype=torch.float32),
                             persistent=False)

    def upper_basis(self) -> UpperBasis | None:
        """The avatar's upper-face basis (numpy), as stored in the rig's buffers; None without an upper face."""
        if "eyes" not in self.regions:
            return None
        return UpperBasis(self.upper_reference.numpy().copy(),
                          {r: getattr(self, f"basis_{r}").numpy().copy() for r in UPPER_REGIONS},
                          {r: getattr(self, f"stdev_{r}").numpy().copy() for r in UPPER_REGIONS})

    def offsets(self, coeffs: dict[str, Tensor]) -> Tensor:
        """Landmark offsets [478, 3] of normalised (÷ stdev) coefficients {region: [K]}; absent regions rest."""
        out = torch.zeros_like(self.landmarks)
        for r in self.regions:
            if r in coeffs:
                c = coeffs[r] * getattr(self, f"stdev_{r}")
                out[getattr(self, f"index_{r}")] = (c @ getattr(self, f"basis_{r}")).view(-1, 3)
        return out

    @staticmethod
    def apply(lm_offsets: Tensor, binding: tuple[Tensor, Tensor]) -> Tensor:
        """Per-Gaussian offsets [N, 3] = weighted landmark offsets."""
        idx, w = binding
        return (lm_offsets[idx] * w[..., None]).sum(1)


class AvatarModel(nn.Module):
    """Person-specific Gaussian head driven by a mouth condition (mouth coefficients and/or speech windows,
    `ModelConfig.condition`), an upper-face condition (eyes + brows coefficients, `ModelConfig.upper_face`) and
    eye features (lids, gaze).

    The condition of one frame is a dict: "expression" [W_e, 12] normalised mouth-coefficient offsets from the
    reference face (see `condition.py`), "upper" [K] normalised eyes ++ brows coefficients of the avatar's own
    upper-face basis (`upper_basis`: fitted on the training frames by `fit`; when loading a stored avatar, None
    builds an empty basis of the configured size that the stored weights fill), "speech" [W, D] phoneme
    posteriors ++ encoder embedding.
    """

    def __init__(self, cfg: ModelConfig, audio_in_dim: int, audio_window: int, seed: int = 0,
                 upper_basis: UpperBasis | None = None):
        super().__init__()
        self.cfg = cfg
        rng = np.random.default_rng(seed)
        face_pts = sample_face_points(cfg.face_points, rng)
        mouth_pts = sample_mouth_points(cfg.mouth_points, rng)
        grey = lambda n: torch.full((n, 3), 0.5)  # noqa: E731
        self.face = StructureField(torch.from_numpy(face_pts), torch.from_numpy(np.log(nearest_spacing(face_pts) * 0.7))
                                   [:, None].repeat(1, 3).float(), grey(len(face_pts)), 0.9)
        self.mouth = StructureField(torch.from_numpy(mouth_pts), torch.from_numpy(
            np.log(nearest_spacing(mouth_pts) * 0.7))[:, None].repeat(1, 3).float(), torch.full((len(mouth_pts), 3), 0.15), 0.5)
        canon = canonical_face().mean
        face_centre = canon.mean(0)
        mouth_centre, mouth_axes = mouth_geometry()
        self.register_buffer("lip_box", torch.tensor(np.concatenate([canon[list(LIPS_OUTER)].mean(0),
                                                                        mouth_axes * np.array([1.4, 1.2, 3.0])])))
        if cfg.condition not in ("expression", "expression+speech", "speech"):
            raise ValueError(f"unknown avatar condition {cfg.condition!r}")
        self.uses = set(cfg.condition.split("+"))
        self.audio_net = AudioNet(audio_in_dim, audio_window, cfg.audio_dim) if "speech" in self.uses else None
        self.expression_net = (ExpressionNet(MOUTH_COEFFS, cfg.expression_window, cfg.audio_dim)
                               if "expression" in self.uses else None)
        self.speech_dropout = 0.0  # set by the trainer for "expression+speech"
        self.upper = bool(cfg.upper_face)
        sizes = {"eyes": cfg.upper_eyes, "brows": cfg.upper_brows}
        if self.upper and upper_basis is None:
            upper_basis = UpperBasis.unfilled(sizes)
        if self.upper and upper_basis.sizes != sizes:
            raise ValueError(f"upper-face basis of sizes {upper_basis.sizes}, the config says {sizes}")
        self.n_upper_eyes = sizes["eyes"]
        mouth_rig = "expression" in self.uses
        self.rig = (ExpressionRig(mouth_rig, upper_basis if self.upper else None) if mouth_rig or self.upper
                    else None)
        common = dict(levels=cfg.hash_levels, log2_size=cfg.hash_log2_size, base=cfg.hash_base)
        eye_dim = EYE_FEATURES + (sum(sizes.values()) if self.upper else 0)
        self.face_motion = MotionField(face_centre, FACE_BOUND_CM, cfg.audio_dim, eye_dim, 0, cfg.face_hidden,
                                       finest=cfg.hash_finest, max_offset=cfg.max_offset_cm, **common)
        self.mouth_motion = MotionField(mouth_centre, MOUTH_BOUND_CM, cfg.audio_dim, 0, 3, cfg.mouth_hidden,
                                        finest=cfg.hash_finest // 2, max_offset=cfg.max_offset_cm, **common)
        self.lookups: dict[str, tuple] = {}
        self.cache: dict[str, dict] | None = None

    # ---- initialisation from data -------------------------------------------------------------------------
    def init_colors(self, image: np.ndarray, w2c: np.ndarray, intr: np.ndarray) -> None:
        """Start face colours from a training crop (mouth interior stays dark)."""
        cols = initial_colors(self.face.means.detach().numpy(), image, w2c, intr)
        with torch.no_grad():
            self.face.color_logits.copy_(torch.logit(torch.from_numpy(cols).clamp(0.02, 0.98)))

    def fields(self) -> dict[str, StructureField]:
        """The structure fields by branch name."""
        return {"face": self.face, "mouth": self.mouth}

    # ---- motion ---------------------------------------------------------------------------------------------
    def refresh_lookups(self) -> None:
        """Recompute the cached hash-grid lookups and landmark bindings at the current centres (training calls
        this every few steps)."""
        self.lookups = {"face": self.face_motion.lookup(self.face.means), "mouth": self.mouth_motion.lookup(self.mouth.means)}
        if self.rig is not None:
            for name, field in self.fields().items():
                self.lookups[name + "_bind"] = landmark_binding(field.means, self.rig.landmarks)

    def binding(self, name: str) -> tuple[Tensor, Tensor]:
        """Landmark binding of a branch: cached (inference / refreshed in training) if still valid, else fresh."""
        field = self.fields()[name]
        if self.cache is not None:
            return self.cache[name + "_bind"]
        b = self.lookups.get(name + "_bind")
        if b is None or b[0].shape[0] != field.count:
            b = landmark_binding(field.means, self.rig.landmarks)
        return b

    def _lookup(self, name: str, field: StructureField):
        """Cached lookup if still valid for this field's size, else None (computed fresh)."""
        lk = self.lookups.get(name)
        rows = field.count * 3 * self.cfg.hash_levels
        return lk if lk is not None and lk[0].shape[0] == rows else None

    def lip_index(self) -> Tensor:
        """Face Gaussians in the lip box around the mouth (the hook reads their vertical motion)."""
        c, half = self.lip_box[:3], self.lip_box[3:]
        inside = ((self.face.means.detach() - c).abs() <= half).all(1)
        return inside.nonzero()[:, 0]

    def encodings(self) -> dict[str, dict]:
        """Per-Gaussian spatial encodings of both branches (cached when prepared for inference)."""
        if self.cache is not None:
            return self.cache
        return {"face": self.face_motion.encode(self.face.means, self._lookup("face", self.face)),
                "mouth": self.mouth_motion.encode(self.mouth.means, self._lookup("mouth", self.mouth))}

    def mouth_feature(self, cond: dict[str, Tensor]) -> Tensor:
        """The per-frame mouth feature a [A] from the condition nets (summed when both are used); in training,
        the speech part is dropped with probability `speech_dropout` so the coefficients carry the motion."""
        a = 0.0
        if self.expression_net is not None:
            a = a + self.expression_net(cond["expression"][None])[0]
        if self.audio_net is not None:
            drop = self.training and self.expression_net is not None and float(torch.rand(())) < self.speech_dropout
            if not drop:
                a = a + self.audio_net(cond["speech"][None])[0]
        return a

    def rig_coefficients(self, cond: dict[str, Tensor]) -> dict[str, Tensor]:
        """The rig's normalised coefficients by region: the mouth window's centre frame, eyes and brows."""
        out = {}
        if "expression" in self.uses:
            win = cond["expression"]
            out["mouth"] = win[win.shape[0] // 2]
        if self.upper:
            out["eyes"], out["brows"] = cond["upper"][:self.n_upper_eyes], cond["upper"][self.n_upper_eyes:]
        return out

    def eye_input(self, cond: dict[str, Tensor], eyes: Tensor) -> Tensor:
        """What the face field's eye attention reads: eye features [6] (++ upper-face coefficients [K])."""
        return torch.cat([eyes, cond["upper"]]) if self.upper else eyes

    def deformations(self, cond: dict[str, Tensor], eyes: Tensor) -> tuple[Deformation, Deformation]:
        """Face and mouth offsets for one frame's condition (see the class doc) and eye features [6]."""
        a = self.mouth_feature(cond)
        enc = self.encodings()
        face = self.face_motion.deform(enc["face"], a, eyes=self.eye_input(cond, eyes))
        lm = self.rig.offsets(self.rig_coefficients(cond)) if self.rig is not None else None
        if lm is not None:
            face.d_rig = self.rig.apply(lm, self.binding("face"))
            face.d_means = face.d_means + face.d_rig
        hook = hook_feature(face.d_means, self.lip_index() if self.cache is None else self.cache["lip_index"])
        mouth = self.mouth_motion.deform(enc["mouth"], a, hook=hook)
        if lm is not None:
            mouth.d_rig = self.rig.apply(lm, self.binding("mouth"))
            mouth.d_means = mouth.d_means + mouth.d_rig
        return face, mouth

    def rig_deformations(self, cond: dict[str, Tensor]) -> tuple[Deformation, Deformation] | None:
        """Only the geometric rig motion (the warmup stage: static Gaussians learn the reference face, so the
        mouth, lids and brows already move with the coefficients); None without a rig."""
        if self.rig is None:
            return None
        lm = self.rig.offsets(self.rig_coefficients(cond))
        out = []
        for name, field in self.fields().items():
            d = self.rig.apply(lm, self.binding(name))
            out.append(Deformation(d, torch.zeros_like(field.log_scales), torch.zeros_like(field.quats), d))
        return out[0], out[1]

    @torch.no_grad()
    def prepare_inference(self) -> None:
        """Cache everything that depends only on the canonical Gaussians (encodings, lip set)."""
        self.cache = None
        self.lookups = {}
        enc = self.encodings()
        self.face_motion.cache_first_layers(enc["face"])
        self.mouth_motion.cache_first_layers(enc["mouth"])
        enc["lip_index"] = self.lip_index()
        if self.rig is not None:
            for name, field in self.fields().items():
                enc[name + "_bind"] = landmark_binding(field.means, self.rig.landmarks)
        self.cache = enc

    # ---- rendering ------------------------------------------------------------------------------------------
    def gaussians(self, deform: tuple[Deformation, Deformation] | None) -> dict[str, Tensor]:
        """Fused parameter set (face then mouth) with the offsets applied (None = canonical, no motion)."""
        out = {}
        for key, attr in (("means", "means"), ("log_scales", "log_scales"), ("quats", "quats")):
            parts = []
            for k, field in enumerate((self.face, self.mouth)):
                base = getattr(field, attr)
                if deform is not None:
                    d = deform[k]
                    base = base + {"means": d.d_means, "log_scales": d.d_log_scales, "quats": d.d_quats}[key]
                parts.append(base)
            out[key] = torch.cat(parts)
        out["opacity_logits"] = torch.cat([self.face.opacity_logits, self.mouth.opacity_logits])
        out["colors"] = torch.sigmoid(torch.cat([self.face.color_logits, self.mouth.color_logits]))
        return out

    def forward(self, cond: dict[str, Tensor], eyes: Tensor, camera: Camera, frame: Tensor | None = None,
                motion: bool = True) -> dict[str, Tensor]:
        """Render one frame: named outputs rgb (premultiplied head), alpha, composite (over `frame`), offsets."""
        deform = self.deformations(cond, eyes) if motion else self.rig_deformations(cond)
        g = self.gaussians(deform)
        out = rasterize(g["means"], g["log_scales"], g["quats"], g["opacity_logits"], g["colors"], camera)
        out["composite"] = out["rgb"] if frame is None else out["rgb"] + (1 - out["alpha"])[..., None] * frame
        if deform is not None:
            out["offsets"] = torch.cat([deform[0].learned_means(), deform[1].learned_means()])
        return out

    # ---- losses and metrics ---------------------------------------------------------------------------------
    def loss_dict(self, out: dict[str, Tensor], target: Tensor, masks: dict[str, Tensor], weights) -> dict[str, Tensor]:
        """L1 + D-SSIM (extra weight on lips/mouth), coverage vs the feathered head mask, small-motion prior."""
        pixel_w = 1.0 + weights.mouth_weight * masks["mouth"]
        pred, tgt = out["composite"], target
        y0, y1, x0, x1 = masks["bbox"]  # loss on the head's box: outside it composite == target exactly
        l1 = ((pred - tgt).abs().mean(-1) * pixel_w)[y0:y1, x0:x1].mean()
        dssim = 1.0 - ssim_torch(pred[y0:y1, x0:x1], tgt[y0:y1, x0:x1])
        # Coverage must follow the feathered head mask; too little coverage is what lets the frame behind show
        # through at paste-back, so it costs 4x more than too much.
        coverage = torch.maximum(masks["head"], masks["inner_mouth"])
        gap = (out["alpha"] - coverage)[y0:y1, x0:x1]
        alpha = (gap.abs() * (1.0 + 4.0 * (gap < 0) + masks["background"][y0:y1, x0:x1])).mean()
        losses = {"l1": l1, "dssim": weights.dssim_weight * dssim, "alpha": weights.alpha_weight * alpha}
        if "offsets" in out:
            losses["offset"] = weights.offset_weight * out["offsets"].abs().mean()
        return losses

    @staticmethod
    @torch.no_grad()
    def metrics_dict(out: dict[str, Tensor], target: Tensor, masks: dict[str, Tensor]) -> dict[str, float]:
        """PSNR (dB) inside the face mask, on 0..1 images."""
        m = masks["head"] > 0.5
        mse = ((out["composite"] - target) ** 2).mean(-1)[m].mean().clamp_min(1e-10)
        return {"psnr_face": float(-10 * torch.log10(mse))}


def _gauss_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """1-D Gaussian taps (the SSIM window)."""
    x = torch.arange(size, dtype=torch.float32) - size // 2
    w = torch.exp(-x * x / (2 * sigma * sigma))
    return w / w.sum()


_WIN = _gauss_window()


def ssim_torch(a: Tensor, b: Tensor) -> Tensor:
    """Mean SSIM of two [H, W, 3] images in 0..1 (Gaussian 11-tap window, per channel), differentiable."""
    x = torch.stack([a, b, a * a, b * b, a * b]).permute(0, 3, 1, 2).reshape(1, 15, a.shape[0], a.shape[1])
    k = _WIN.to(a)
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(15, 1, 1, 1), groups=15)
    x = F.conv2d(x, k.view(1, 1, -1, 1).repeat(15, 1, 1, 1), groups=15)
    mu_a, mu_b, aa, bb, ab = x.view(5, 3, x.shape[-2], x.shape[-1])
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    va, vb, cov = aa - mu_a ** 2, bb - mu_b ** 2, ab - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return s.mean()
