"""One photo → talking video: a 3D-aware mesh-warp model of the photo (`build_portrait`), rendered per frame
from a head pose and canonical landmarks (`PortraitRenderer`, `render_frames`) with a learned inner-mouth prior,
streamed to MP4 from a MotionTrack (`write_video`) or straight from speech (`animate`)."""
from .animate import AnimateResult, animate
from .image import CropBox, face_crop_box, load_portrait_image, tracking_copy
from .model import PortraitModel, build_portrait, track_image
from .mouth import MouthPrior, shipped_mouth_prior
from .render import PortraitRenderer, paste_back, render_frames
from .video import motion_inputs, write_video

__all__ = ["AnimateResult", "CropBox", "MouthPrior", "PortraitModel", "PortraitRenderer", "animate", "build_portrait",
           "face_crop_box", "load_portrait_image", "motion_inputs", "paste_back", "render_frames",
           "shipped_mouth_prior", "track_image", "tracking_copy", "write_video"]
