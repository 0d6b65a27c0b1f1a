"""Speech front-end: log-mel features, our phoneme-posterior encoder, offline TTS (Piper), forced alignment
(pocketsphinx), phoneme → viseme mapping and a mouth-openness signal.

Heavy dependencies (torch, Piper, pocketsphinx) load lazily inside the functions that need them.
"""
from .phones import PHONES, SIL, Phone

__all__ = ["PHONES", "SIL", "Phone", "SpeechFeatures", "FrameWindows", "compute_features", "features_from_file",
           "features_from_text", "synthesize", "align", "load_encoder", "VISEMES", "viseme_probs", "openness"]


def __getattr__(name: str):
    """Lazy access to the public API so `import talkface.audio` stays cheap."""
    if name in ("SpeechFeatures", "FrameWindows", "compute_features", "features_from_file", "features_from_text"):
        from . import features
        return getattr(features, name)
    if name == "synthesize":
        from .tts import synthesize
        return synthesize
    if name == "align":
        from .align import align
        return align
    if name == "load_encoder":
        from .encoder import load_encoder
        return load_encoder
    if name in ("VISEMES", "viseme_probs", "openness"):
        from . import visemes
        return getattr(visemes, name)
    raise AttributeError(f"module 'talkface.audio' has no attribute {name!r}")
