"""Typed configs of the Gaussian avatar, split by concern (data, model, training), with named presets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class DataConfig:
    """How a video becomes a training set."""

    resolution: int = 256  # square head-crop side in pixels
    seconds: float = 10.0  # at most this much video is trained on (from the start)
    crop_scale: float = 1.4  # crop side = this x the median face-oval height
    min_train_seconds: float = 3.0  # refuse videos with less usable face than this
    holdout_fraction: float = 0.2  # the last 20% ...
    holdout_seconds: float = 3.0  # ... or at least 3 s is held out (when enough remains to train on)
    audio_window: int = 16  # posterior frames (50 Hz) around each video frame


@dataclass
class ModelConfig:
    """Sizes of the structure and motion fields."""

    face_points: int = 7000  # initial face Gaussians sampled on the tracked canonical mesh
    mouth_points: int = 1500  # initial inside-mouth Gaussians in the cavity behind the lips
    hash_levels: int = 12
    hash_log2_size: int = 14
    hash_base: int = 16
    hash_finest: int = 256
    face_hidden: int = 64
    mouth_hidden: int = 32
    audio_dim: int = 32  # per-frame mouth condition after the condition nets
    condition: str = "expression"  # mouth condition: "expression" (mouth coefficients), "expression+speech", "speech"
    expression_window: int = 5  # frames of mouth coefficients around each video frame
    upper_face: bool = True  # eyes + brows coefficients drive a landmark rig and the face field's eye attention
    upper_eyes: int = 12  # components of the person-specific upper-face basis: eye region (lids, eye shape, irises)
    upper_brows: int = 8  # ... and brows + forehead (`condition.UpperBasis`)
    max_offset_cm: float = 1.5  # bound of the position offset (tanh-scaled)


@dataclass
class TrainConfig:
    """Optimisation schedule: stages, learning rates, loss weights and densification."""

    iterations: int = 3000
    stages: tuple = (("warmup", 0.12), ("motion", 0.73), ("fuse", 0.15))  # name, fraction of iterations
    lr_means: float = 2e-3  # cm per step (scene is ~15 cm across)
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_opacity: float = 2.5e-2
    lr_colors: float = 1e-2
    lr_grid: float = 5e-3
    lr_net: float = 1e-3
    fuse_lr_factor: float = 0.2
    dssim_weight: float = 0.2
    mouth_weight: float = 4.0  # extra photometric weight on lips + inner mouth
    alpha_weight: float = 1.0  # rendered coverage vs the feathered head mask
    offset_weight: float = 1e-3  # L1 on the deformation (keeps motion small where not needed)
    densify_every: int = 100
    densify_from: float = 0.1  # fraction of iterations
    densify_until: float = 0.75
    grad_threshold: float = 2e-4
    max_gaussians: int = 14000
    checkpoint_every: int = 250
    seed: int = 0
    # tracked → generated-like mouth coefficients (see condition.augment)
    expr_noise: float = 0.05  # Gaussian noise, stdev units of the shipped model
    expr_scale_min: float = 0.85  # amplitude scale range (generated motion is smaller than tracked)
    expr_scale_max: float = 1.0
    expr_smooth_prob: float = 0.5  # probability of the temporally smoothed coefficients
    expr_smooth_sigma: float = 1.0  # frames
    speech_dropout: float = 0.5  # "expression+speech": probability of dropping the speech feature in a step


@dataclass
class AvatarConfig:
    """Everything that defines an avatar fit."""

    preset: str = "fast"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """JSON-ready nested dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AvatarConfig":
        """Inverse of `to_dict`; unknown keys are refused by the dataclass constructors."""
        train = dict(d["train"])
        train["stages"] = tuple(tuple(s) for s in train["stages"])
        return cls(preset=d["preset"], data=DataConfig(**d["data"]), model=ModelConfig(**d["model"]),
                   train=TrainConfig(**train))


PRESETS = ("fast", "quality")
CONDITIONS = ("expression", "expression+speech", "speech")


def preset(name: str) -> AvatarConfig:
    """The named preset: `fast` (256^2, ~10 min for 10 s on 2 cores) or `quality` (512^2, more Gaussians)."""
    if name == "fast":
        return AvatarConfig(preset="fast")
    if name == "quality":
        return AvatarConfig(preset="quality", data=DataConfig(resolution=512),
                            model=ModelConfig(face_points=12000, mouth_points=2500),
                            train=TrainConfig(iterations=6000, max_gaussians=30000))
    raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")

