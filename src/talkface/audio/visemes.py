"""Phoneme → viseme table, per-frame viseme probabilities, and a mouth-openness signal.

The 15 visemes follow the widely used Oculus/Meta lip-sync set (sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa,
E, ih, oh, ou), which is the MPEG-4 facial-animation viseme table (14 visemes: p b m / f v / th dh / t d /
k g / ch jh sh / s z / n l / r / a / e / i / o / u) plus silence: each groups phones whose mouth shape looks
alike from the front. ARPAbet phones that table leaves out are placed by their mouth shape (below).

| viseme | ARPAbet phones | mouth shape |
|---|---|---|
| sil | SIL | closed, at rest |
| PP | P B M | lips pressed together |
| FF | F V | lower lip under the upper teeth |
| TH | TH DH | tongue tip between the teeth |
| DD | T D | tongue on the ridge, jaw slightly open |
| kk | K G NG HH | back of the tongue raised, jaw open, lips neutral |
| CH | CH JH SH ZH | lips pushed forward, teeth close |
| SS | S Z | teeth close, lips spread |
| nn | N L | tongue up, jaw slightly open |
| RR | R ER | lips slightly rounded |
| aa | AA AE AH AY AW | jaw wide open |
| E | EH EY | mid open, spread |
| ih | IH IY Y | nearly closed, spread |
| oh | AO OW OY | open, rounded |
| ou | UW UH W | small rounded opening |

Diphthongs are listed under their first (more open) target.
`viseme_probs` is the single-pass read-out (posteriors summed per viseme); `decode.decoded_viseme_probs` is the
decoded one (posteriors averaged over vocal-tract-length warps first), more accurate on unseen speakers. Openness (0 = lips closed, 1 = widest) is a
per-phone jaw/lip opening used for audio-visual offset estimation and as a simple lip target.
"""
from __future__ import annotations

import numpy as np

from .phones import PHONE_INDEX, PHONES, Phone

VISEMES: tuple[str, ...] = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")
VISEME_OF_PHONE: dict[str, str] = {
    "SIL": "sil",
    "P": "PP", "B": "PP", "M": "PP",
    "F": "FF", "V": "FF",
    "TH": "TH", "DH": "TH",
    "T": "DD", "D": "DD",
    "K": "kk", "G": "kk", "NG": "kk", "HH": "kk",
    "CH": "CH", "JH": "CH", "SH": "CH", "ZH": "CH",
    "S": "SS", "Z": "SS",
    "N": "nn", "L": "nn",
    "R": "RR", "ER": "RR",
    "AA": "aa", "AE": "aa", "AH": "aa", "AY": "aa", "AW": "aa",
    "EH": "E", "EY": "E",
    "IH": "ih", "IY": "ih", "Y": "ih",
    "AO": "oh", "OW": "oh", "OY": "oh",
    "UW": "ou", "UH": "ou", "W": "ou",
}
OPENNESS_OF_PHONE: dict[str, float] = {
    "SIL": 0.0, "P": 0.0, "B": 0.0, "M": 0.0, "F": 0.15, "V": 0.15, "TH": 0.3, "DH": 0.3,
    "T": 0.3, "D": 0.3, "N": 0.3, "L": 0.35, "S": 0.2, "Z": 0.2, "CH": 0.25, "JH": 0.25, "SH": 0.25, "ZH": 0.25,
    "K": 0.4, "G": 0.4, "NG": 0.35, "HH": 0.5, "R": 0.35, "ER": 0.45, "W": 0.2, "Y": 0.3,
    "AA": 1.0, "AE": 0.9, "AH": 0.75, "AY": 0.9, "AW": 0.9, "AO": 0.8, "OW": 0.65, "OY": 0.7,
    "EH": 0.7, "EY": 0.6, "IH": 0.45, "IY": 0.35, "UH": 0.4, "UW": 0.3,
}


def phone_to_viseme_matrix() -> np.ndarray:
    """[P, V] 0/1 matrix mapping each phone (PHONES order) to its viseme (VISEMES order)."""
    m = np.zeros((len(PHONES), len(VISEMES)), np.float32)
    for p, v in VISEME_OF_PHONE.items():
        m[PHONE_INDEX[p], VISEMES.index(v)] = 1.0
    return m


def openness_weights() -> np.ndarray:
    """[P] openness of each phone, in PHONES order."""
    return np.array([OPENNESS_OF_PHONE[p] for p in PHONES], np.float32)


def viseme_probs(posteriors: np.ndarray) -> np.ndarray:
    """Per-frame viseme probabilities [F, 15] from phone posteriors [F, P] (sum of each group).

    Pure function of the posteriors it is given; `decode.decoded_viseme_probs(features)` gives the decoded
    read-out (several encoder passes averaged) when the features' log-mel is at hand.
    """
    return np.asarray(posteriors, np.float32) @ phone_to_viseme_matrix()


def openness(posteriors: np.ndarray) -> np.ndarray:
    """Expected mouth openness per frame [F] in 0..1 from phone posteriors [F, P]."""
    return np.asarray(posteriors, np.float32) @ openness_weights()


def viseme_index(labels: np.ndarray) -> np.ndarray:
    """Map phone indices to viseme indices."""
    table = phone_to_viseme_matrix().argmax(1)
    return table[np.asarray(labels)]


def viseme_track(phones: list[Phone]) -> list[tuple[str, float, float]]:
    """Timed visemes (label, start, end) of a timed phone list, merging neighbours with the same viseme."""
    out: list[tuple[str, float, float]] = []
    for p in phones:
        v = VISEME_OF_PHONE[p.label]
        if out and out[-1][0] == v and abs(out[-1][2] - p.start) < 1e-6:
            out[-1] = (v, out[-1][1], p.end)
        else:
            out.append((v, p.start, p.end))
    return out
