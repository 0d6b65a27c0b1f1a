"""The phone inventory (39 ARPAbet phones + silence), IPA → ARPAbet mapping, and the timed `Phone` record.

Every phone label in talkface is one of `PHONES`. Stress digits (cmudict `AH0`) are dropped. IPA strings come
from espeak-ng (directly, or through Piper) and are mapped with `ipa_to_arpabet`, longest match first.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

SIL = "SIL"
PHONES: tuple[str, ...] = (
    SIL,
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
    "B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH",
    "T", "TH", "V", "W", "Y", "Z", "ZH",
)
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
VOWELS = frozenset(("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"))


@dataclass(frozen=True)
class Phone:
    """One timed phone: ARPAbet `label` (see `PHONES`) from `start` to `end` seconds."""

    label: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.end - self.start


def normalise_arpabet(label: str) -> str:
    """Strip cmudict stress digits and map pocketsphinx fillers (+NSN+, +SPN+, ...) to silence."""
    label = label.strip().upper().rstrip("012")
    return label if label in PHONE_INDEX else SIL


# IPA (espeak-ng / Piper en-us output) → ARPAbet. Multi-character entries win over their prefixes.
_IPA_TABLE: dict[str, tuple[str, ...]] = {
    "tʃ": ("CH",), "dʒ": ("JH",), "aɪ": ("AY",), "aʊ": ("AW",), "eɪ": ("EY",), "oʊ": ("OW",), "ɔɪ": ("OY",),
    "əʊ": ("OW",), "ɛə": ("EH",), "ɪə": ("IH",), "ʊə": ("UH",), "ɑɹ": ("AA", "R"), "ɔɹ": ("AO", "R"),
    "ɜː": ("ER",), "ɜ": ("ER",), "ɚ": ("ER",), "ɝ": ("ER",),
    "ɑː": ("AA",), "ɑ": ("AA",), "ɒ": ("AA",), "ɔː": ("AO",), "ɔ": ("AO",), "uː": ("UW",), "u": ("UW",),
    "iː": ("IY",), "i": ("IY",), "ə": ("AH",), "ʌ": ("AH",), "ɐ": ("AH",), "ɪ": ("IH",), "ᵻ": ("IH",),
    "ɨ": ("IH",), "ɛ": ("EH",), "e": ("EY",), "æ": ("AE",), "a": ("AE",), "ʊ": ("UH",), "o": ("OW",),
    "ɾ": ("T",), "ʔ": ("T",), "ɹ": ("R",), "r": ("R",), "ɫ": ("L",), "l": ("L",), "n": ("N",), "m": ("M",),
    "ŋ": ("NG",), "θ": ("TH",), "ð": ("DH",), "ʃ": ("SH",), "ʒ": ("ZH",), "j": ("Y",), "w": ("W",),
    "h": ("HH",), "x": ("HH",), "ç": ("HH",), "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",),
    "k": ("K",), "g": ("G",), "ɡ": ("G",), "f": ("F",), "v": ("V",), "s": ("S",), "z": ("Z",),
    "ɬ": ("L",), "ʍ": ("W",), "y": ("UW",), "ø": ("UH",), "œ": ("UH",), "c": ("K",), "q": ("K",),
}
_IPA_MAXLEN = max(len(k) for k in _IPA_TABLE)
# Marks that change a neighbour (stress, length, syllabic, nasal, tie bars) rather than adding a sound.
IPA_MODIFIERS = frozenset("ˈˌːˑ\u0329\u0303\u0361\u035c\u032f\u0330\u02de-'")


def ipa_to_arpabet(ipa: str) -> list[str]:
    """Map an IPA phone string (one or several phones) to ARPAbet labels; unknown symbols are skipped."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", ipa) if ch not in IPA_MODIFIERS)
    out: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(_IPA_MAXLEN, len(text) - i), 0, -1):
            hit = _IPA_TABLE.get(text[i:i + size])
            if hit is not None:
                out.extend(hit)
                i += size
                break
        else:
            i += 1
    return out


def merge_adjacent(phones: list[Phone]) -> list[Phone]:
    """Merge neighbouring phones with the same label into one (silences, doubled consonants across words)."""
    out: list[Phone] = []
    for p in phones:
        if out and out[-1].label == p.label and abs(out[-1].end - p.start) < 1e-6:
            out[-1] = Phone(p.label, out[-1].start, p.end)
        elif p.end > p.start:
            out.append(p)
    return out


def frame_labels(phones: list[Phone], n_frames: int, fps: float = 50.0) -> "np.ndarray":
    """Phone index per frame (frame j's label is the phone covering its centre; silence where none does)."""
    import numpy as np

    labels = np.zeros(n_frames, dtype=np.int64)
    centres = (np.arange(n_frames) + 0.5) / fps
    for p in phones:
        a, b = np.searchsorted(centres, [p.start, p.end])
        labels[a:b] = PHONE_INDEX[p.label]
    return labels
