"""talkface.avatar: personalized 3D Gaussian talking head (TalkingGaussian / InsTaG design) fitted on the CPU.

    from talkface.avatar import fit, speak, load_avatar, preset
    fit("person.mp4", "person.avatar", preset("fast"))
    speak("person.avatar", "out.mp4", audio="speech.wav")

Layers: `dataset` (video → crops, cameras, masks, conditions) → `model` (structure + motion fields, rendering,
losses) → `trainer` (stages, densification strategy, checkpoints); `speak` streams new speech through a fitted
avatar; `store` reads and writes the versioned avatar directory.
"""
from .config import PRESETS, AvatarConfig, DataConfig, ModelConfig, TrainConfig, preset
from .dataset import AvatarDataset, build_dataset, plan_split
from .fields import Deformation, MotionField, StructureField
from .hashgrid import TriPlaneHashEncoder
from .model import AvatarModel
from .speak import speak
from .store import AVATAR_VERSION, Avatar, load_avatar
from .strategy import DensifyPrune, NoDensification
from .trainer import fit

__all__ = ["AVATAR_VERSION", "Avatar", "AvatarConfig", "AvatarDataset", "AvatarModel", "DataConfig", "Deformation",
           "DensifyPrune", "ModelConfig", "MotionField", "NoDensification", "PRESETS", "StructureField", "TrainConfig",
           "TriPlaneHashEncoder", "build_dataset", "fit", "load_avatar", "plan_split", "preset", "speak"]
