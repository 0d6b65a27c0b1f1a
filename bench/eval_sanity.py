"""Sanity of the evaluation harness on every real talking clip in ../shared/data/videos.

    python bench/eval_sanity.py     → prints the tables and writes the "eval" section of docs/BENCHMARKS.md

Checks, per clip: the video scored against itself; its audio delayed/advanced by 5 frames; its video paired with
each other clip's audio (sync confidence must drop); a frozen first frame with the clip's own audio; and the
speed of `evaluate` (tracking included) on the 256² clips.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._report import SHARED_DATA, machine_line, markdown_table, write_section  # noqa: E402
from bench.cases import Case, distribution_table, run_cases  # noqa: E402
from talkface.eval import evaluate  # noqa: E402
from talkface.eval.report import fmt  # noqa: E402
from talkface.media import VideoWriter, iter_frames, load_audio, probe  # noqa: E402

HOP = 16000 // 25
SHIFT = 5
SHIFT_MAX_LAG = 15  # clips carry their own offsets up to ±10 frames; shifted by 5 they need a wider search


def shifted(audio: np.ndarray, frames: int) -> np.ndarray:
    """`audio` delayed by `frames` video frames (silence prepended), or advanced when negative."""
    if frames >= 0:
        return np.concatenate([np.zeros(frames * HOP, np.float32), audio])
    return audio[-frames * HOP:]


def write_frozen(clip: Path, out: Path) -> Path:
    """A video as long as `clip` showing only its first frame, with the clip's own audio."""
    frames = iter_frames(clip)
    first = next(frames)
    n = 1 + sum(1 for _ in frames)
    with VideoWriter(out, audio=load_audio(clip)) as writer:
        for _ in range(n):
            writer.write(first)
    return out


def speed_runs(clips: list[Path], tmp: Path) -> dict[str, list[float]]:
    """Fresh-cache `evaluate` speeds (frames/s incl. tracking) without and with a (different) reference."""
    out: dict[str, list[float]] = {}
    for clip in clips:
        frozen = tmp / f"{clip.stem}_frozen.mp4"
        for label, speed in (("no reference (1 video tracked)", evaluate(clip, cache={}).speed),
                             ("with reference (2 videos tracked)", evaluate(frozen, reference=clip, cache={}).speed)):
            out.setdefault(f"frames/s wall, {label}", []).append(speed["fps"])
            out.setdefault(f"frames/s per CPU-second, {label}", []).append(speed["fps_per_cpu_second"])
            out.setdefault(f"peak RSS MiB, {label}", []).append(speed["peak_rss_mb"])
    return out


def signal_sync(clips: list[Path], cache: dict, audio: dict[str, np.ndarray], signal: str) -> dict[str, list[float]]:
    """Own- vs other-audio sync confidence and the +SHIFT recovery error with speech signal `signal`
    (each audio's signal computed once, over the longest clip, then cut to each clip's length)."""
    from talkface.eval import analyse_video, av_offset
    from talkface.eval.sync import SPEECH_SIGNALS

    fn = SPEECH_SIGNALS[signal]
    mouths = {c.stem: analyse_video(c, audio=audio[c.stem], cache=cache).mouth for c in clips}
    longest = max(len(m) for m in mouths.values()) + SHIFT
    speech = {n: fn(a, 16000, longest, 25.0) for n, a in audio.items()}
    out: dict[str, list[float]] = {"own": [], "other": [], "shift_error": []}
    for n, mouth in mouths.items():
        for a, sig in speech.items():
            out["own" if a == n else "other"].append(av_offset(mouth, sig[: len(mouth)]).confidence)
        late = fn(shifted(audio[n], SHIFT), 16000, len(mouth), 25.0)
        base = av_offset(mouth, speech[n][: len(mouth)], SHIFT_MAX_LAG).offset
        out["shift_error"].append(abs(av_offset(mouth, late, SHIFT_MAX_LAG).offset - base - SHIFT))
    return out


def openness_text(res: dict[str, list[float]] | None) -> str:
    """The paragraph and table on the phoneme encoder's openness as the speech signal (or why it is missing)."""
    if res is None:
        return ("Speech signal `openness` (phoneme encoder): not measured, the encoder weights were not trained "
                "when this ran.")
    wins = np.mean([o > x for o in res["own"] for x in res["other"]])
    hits = sum(e <= 1 for e in res["shift_error"])
    return (f"The same with the phoneme encoder's mouth openness as the speech signal (`--speech-signal openness`); "
            f"own > other in {100 * wins:.0f}% of (own, other) pairs over all clips, +{SHIFT} shift recovered within "
            f"±1 frame on {hits} of {len(res['shift_error'])} clips:\n\n"
            + distribution_table({"openness sync confidence, own audio": res["own"],
                                  "openness sync confidence, other clip's audio": res["other"]}))


def main() -> None:
    clips = sorted((SHARED_DATA / "videos").glob("*.mp4"))
    if not clips:
        sys.exit(f"no clips in {SHARED_DATA / 'videos'}")
    cache: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="talkface-eval-sanity-"))
    selfs = {c.stem: r for c, r in zip(clips, run_cases([Case(f"{c.stem} self", c, reference=c) for c in clips], cache))}
    ok = [c for c in clips if selfs[c.stem].result is not None]
    audio = {c.stem: load_audio(c) for c in ok}
    shift_cases = [Case(f"{c.stem} {s:+d}", c, reference=c, audio=shifted(audio[c.stem], s), groups=["sync"],
                        eval_kwargs={"max_lag": SHIFT_MAX_LAG}) for c in ok for s in (SHIFT, -SHIFT)]
    shifts = {r.case.name: r for r in run_cases(shift_cases, cache, verbose=False)}
    cross: dict[str, dict[str, float]] = {c.stem: {} for c in ok}
    for c in ok:
        for a in ok:
            r = run_cases([Case(f"{c.stem}+{a.stem}", c, audio=audio[a.stem], groups=["sync"])], cache, verbose=False)[0]
            cross[c.stem][a.stem] = (r.value("av_confidence"), r.value("av_prominence"))
    frozen_cases = [Case(f"{c.stem} frozen", write_frozen(c, tmp / f"{c.stem}_frozen.mp4"), reference=c) for c in ok]
    frozen = {r.case.name.split()[0]: r for r in run_cases(frozen_cases, cache, verbose=False)}
    small = [c for c in ok if probe(c).width == 256]
    speeds = speed_runs(small, tmp)
    from talkface.audio.encoder import WEIGHTS  # after the speed runs: the encoder's torch would raise their RSS

    openness = signal_sync(ok, cache, audio, "openness") if WEIGHTS.is_file() else None
    shutil.rmtree(tmp, ignore_errors=True)

    rows, own_c, other_c, own_p, other_p, shift_err, frozen_r, misses, wins = [], [], [], [], [], [], [], [], []
    for c in clips:
        s = selfs[c.stem]
        if s.result is None:
            rows.append([c.stem, f"error: {s.error}"] + [""] * 12)
            continue
        n = c.stem
        own, others = cross[n][n], [v for k, v in cross[n].items() if k != n]
        rank = 1 + sum(o[0] >= own[0] for o in others)
        plus, minus = shifts[f"{n} +{SHIFT}"].value("av_offset_rel"), shifts[f"{n} -{SHIFT}"].value("av_offset_rel")
        fr = frozen[n]
        own_c.append(own[0]); own_p.append(own[1])
        other_c += [o[0] for o in others]; other_p += [o[1] for o in others]
        shift_err += [abs(plus - SHIFT), abs(minus + SHIFT)]
        wins += [own[0] > o[0] for o in others]
        if abs(plus - SHIFT) > 1 or abs(minus + SHIFT) > 1:
            misses.append(f"{n} (own conf {fmt(own[0])}, rank {rank}/{len(others) + 1})")
        frozen_r.append(abs(fr.value("mouth_corr")))
        info = probe(c)
        rows.append([n, f"{info.width}²", s.result.meta["frames"], fmt(s.value("psnr_face")), fmt(s.value("lmd_all_px")),
                     fmt(s.value("av_offset_rel")), fmt(s.value("av_offset")), fmt(own[0]),
                     fmt(float(np.median([o[0] for o in others]))), f"{rank}/{len(others) + 1}", fmt(plus), fmt(minus),
                     fmt(fr.value("mouth_corr")), f"{fmt(fr.value('blink_rate'), 1)} / {fmt(s.value('blink_rate'), 1)}"])
    header = ["clip", "size", "frames", "self PSNR face", "self LMD", "self offset rel", "own AV offset",
              "own conf", "median conf, other audio", "rank of own audio", f"+{SHIFT} shift →", f"−{SHIFT} shift →",
              "frozen mouth r", "blinks/min frozen / real"]
    n_hit = sum(e <= 1 for e in shift_err)
    body = f"""## eval: sanity of the evaluation harness (`bench/eval_sanity.py`)

{machine_line()}

Protocol: every clip of `../shared/data/videos` ({len(clips)} clips, all frames, normalised to 25 fps, full frame
at native size; face box = square around the reference landmarks +10%). No train/test split: nothing is learned.
*self*: the clip scored against itself. *±{SHIFT} shift*: its own audio delayed (+) / advanced (−) by {SHIFT}
frames, scored against the original (`av_offset_rel` = offset of shifted − offset of original; expected ±{SHIFT};
lags searched ±{SHIFT_MAX_LAG} here because some clips carry their own offset of up to 10 frames).
*other audio*: the clip's video with each other clip's audio (sync confidence = peak Pearson r between mouth opening
and the speech-band envelope over lags ±10 frames). *frozen*: its first frame repeated for its length with its own
audio, scored against the clip. AV offset sign: > 0 means the audio is late.

{markdown_table(header, rows)}

Distributions over clips (other-audio rows: every clip's video × every other clip's audio):

{distribution_table({"envelope sync confidence, own audio": own_c,
                     "envelope sync confidence, other clip's audio": other_c,
                     "envelope sync prominence, own audio": own_p,
                     "envelope sync prominence, other clip's audio": other_p,
                     f"|error| of the ±{SHIFT}-frame shift (frames)": shift_err,
                     "|mouth r| of the frozen video": frozen_r})}

With the envelope, a clip's own audio gives a higher sync confidence than another clip's audio in {100 * np.mean(wins):.0f}% of the
{len(wins)} (clip, other audio) pairs. The shift is recovered within ±1 frame in {n_hit} of {len(shift_err)} runs;
misses: {", ".join(misses) or "none"}. Misses happen where the own-audio peak is weak (confidence below about
0.2): there the mouth-opening/envelope correlation cannot time the speech (andrew_* barely correlate with their
audio at any lag; kitchen_talk has music under the speech).

{openness_text(openness)}

Speed of `evaluate` (decode + face tracking + all metrics; fresh track cache, process already warm, so one-off
imports such as librosa's ~4 s are excluded) on the {len(small)} 256² clips, in frames of the scored video per
second. The machine is shared with other jobs (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at
the end of this run), which inflates wall time; frames per CPU-second of this process (all its threads) is the
load-independent figure:

{distribution_table(speeds, 1)}
"""
    write_section("eval", body)


if __name__ == "__main__":
    main()
