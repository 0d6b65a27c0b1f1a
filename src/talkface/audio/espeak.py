"""espeak-ng through ctypes (library and data from the `espeakng-loader` wheel): phonemisation and synthesis
with exact phoneme event times.

Used for pronunciations of words missing from cmudict (forced alignment) and as a second, very different
synthetic voice family for the encoder's training corpus. espeak-ng keeps global state, so calls are
serialised by a lock and the voice/parameters are set on every call.
"""
from __future__ import annotations

import ctypes
import threading
from functools import lru_cache

import numpy as np

from .phones import SIL, Phone, ipa_to_arpabet, merge_adjacent

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_OPT_PHONEME_EVENTS = 0x0001
_OPT_IPA_EVENTS = 0x0002
_OPT_DONT_EXIT = 0x8000
_EVENT_END = 0
_EVENT_WORD = 1
_EVENT_MSG_TERMINATED = 6
_EVENT_PHONEME = 7
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_PITCH, _PARAM_RANGE = 1, 3, 4
_LOCK = threading.Lock()


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
        ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    """The loaded library, its sample rate, and the buffers the synth callback fills."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
        data = str(espeakng_loader.get_data_path()).encode()
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.sample_rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, ctypes.c_char_p(data), _OPT_PHONEME_EVENTS | _OPT_IPA_EVENTS | _OPT_DONT_EXIT)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise from the espeakng-loader data.")
        self.lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self.lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, str]] = []
        self._callback = _CALLBACK(self._on_synth)
        self.lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, n, events) -> int:
        """Collect PCM and (type, sample, phoneme) events; returning 0 continues synthesis."""
        if n > 0 and wav:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while events[i].type != _EVENT_END:
            ev = events[i]
            if ev.type == _EVENT_PHONEME:
                self.events.append((ev.type, ev.sample, ev.id.string.decode("utf-8", "ignore")))
            elif ev.type in (_EVENT_WORD, _EVENT_MSG_TERMINATED):
                self.events.append((ev.type, ev.sample, ""))
            i += 1
        return 0

    def set_voice(self, voice: str) -> None:
        """Select a voice such as 'en-us' or 'en-us+f3' (language + variant)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}.")


@lru_cache(maxsize=1)
def _engine() -> _Engine:
    """The process-wide espeak-ng engine (initialised once)."""
    return _Engine()


def phonemize_ipa(text: str, voice: str = "en-us") -> str:
    """IPA phonemes of `text` as espeak-ng pronounces it (words separated by spaces)."""
    with _LOCK:
        eng = _engine()
        eng.set_voice(voice)
        buf = ctypes.c_char_p(text.encode("utf-8"))
        ptr = ctypes.pointer(buf)
        parts = []
        while ptr.contents.value:
            out = eng.lib.espeak_TextToPhonemes(ptr, _CHARS_UTF8, 0x02)
            if out:
                parts.append(out.decode("utf-8", "ignore"))
        return " ".join(parts)


def word_to_arpabet(word: str, voice: str = "en-us") -> list[str]:
    """ARPAbet pronunciation of one word from espeak-ng's letter-to-sound rules (for cmudict misses)."""
    return ipa_to_arpabet(phonemize_ipa(word, voice).replace(" ", ""))


def synthesize_espeak(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                      pitch_range: int = 50) -> tuple[np.ndarray, int, list[Phone]]:
    """Speak `text` with espeak-ng: float32 audio, its sample rate, and exact ARPAbet phone timings.

    Each phoneme event marks the start of that phoneme; it lasts until the next event. Pauses become SIL.
    """
    with _LOCK:
        eng = _engine()
        eng.set_voice(voice)
        for param, value in ((_PARAM_RATE, rate), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range)):
            eng.lib.espeak_SetParameter(param, int(value), 0)
        eng.chunks, eng.events = [], []
        data = text.encode("utf-8") + b"\0"
        eng.lib.espeak_Synth(ctypes.c_char_p(data), ctypes.c_size_t(len(data)), 0, _POS_CHARACTER, 0,
                             _CHARS_UTF8, None, None)
        audio = (np.concatenate(eng.chunks) if eng.chunks else np.zeros(0, np.int16)).astype(np.float32) / 32768.0
        events, sr = list(eng.events), eng.sample_rate
    return audio, sr, _events_to_phones(events, len(audio), sr)


def _events_to_phones(events: list[tuple[int, int, str]], n_samples: int, sr: int) -> list[Phone]:
    """Turn espeak phoneme-start events into contiguous ARPAbet phones covering [0, audio length]."""
    marks: list[tuple[float, list[str]]] = [(0.0, [SIL])]
    for kind, sample, name in events:
        t = min(sample, n_samples) / sr
        if kind == _EVENT_PHONEME:
            labels = ipa_to_arpabet(name)
            marks.append((t, labels if labels else [SIL]))
    total = n_samples / sr
    phones: list[Phone] = []
    for (t0, labels), (t1, _) in zip(marks, marks[1:] + [(total, [])]):
        if t1 <= t0:
            continue
        step = (t1 - t0) / len(labels)  # rare multi-phone events (e.g. 'ɑɹ') share their span
        phones += [Phone(lab, t0 + k * step, t0 + (k + 1) * step) for k, lab in enumerate(labels)]
    return merge_adjacent(phones)
