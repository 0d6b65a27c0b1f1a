"""Media I/O: decode any container/codec ffmpeg reads, normalise to 25 fps / 16 kHz mono, encode H.264+AAC MP4."""
from .decode import DEFAULT_FPS, DEFAULT_SR, MediaInfo, is_image_path, iter_audio, iter_frames, load_audio, probe
from .encode import VideoWriter
from .image import IMAGE_SUFFIXES, read_image

__all__ = ["DEFAULT_FPS", "DEFAULT_SR", "IMAGE_SUFFIXES", "MediaInfo", "VideoWriter", "is_image_path",
           "iter_audio", "iter_frames", "load_audio", "probe", "read_image"]
