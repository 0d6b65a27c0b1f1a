"""The `talkface` command line: one typer app, one thin command per job.

Commands only parse flags, validate them and call the stage that does the work; a `UserError`
anywhere prints its one sentence and exits with code 2, without a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import UserError
from .motion.cli_options import motion_options
from .motion.controls import MotionControls

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Speech to talking-head video on an ordinary CPU.")


def _output_path(path: Path, suffixes: tuple[str, ...]) -> Path:
    """Validate an output path's suffix and folder up front, so no work is done for an unwritable target."""
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{path}: output must end in {' or '.join(suffixes)}.")
    if path.exists() and path.is_dir():
        raise UserError(f"{path}: is a directory.")
    return path


def _check_speech_source(audio: Optional[Path], text: Optional[str]) -> None:
    """Exactly one of --audio (an existing file) or --text (non-empty) must be given."""
    if (audio is None) == (text is None):
        raise UserError("give exactly one of --audio or --text.")
    if text is not None and not text.strip():
        raise UserError("--text is empty; give some words to speak.")
    if audio is not None and not audio.exists():
        raise UserError(f"{audio}: no such file.")


@app.command()
def track(
    video: Path = typer.Argument(..., help="Video (or image) with one face."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the track (.npz)."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write an annotated preview video (.mp4)."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate the video is normalised to."),
) -> None:
    """Track the face of VIDEO: landmarks, head pose, blinks, gaze; optionally a preview video."""
    from .face import track_video
    from .face.preview import write_preview

    _output_path(output, (".npz",))
    if preview is not None:
        _output_path(preview, (".mp4",))
    result = track_video(video, fps=fps, progress=True)
    result.save(output)
    if preview is not None:
        write_preview(video, result, preview)
    print(f"tracked {result.n_frames} frames ({result.valid.mean():.0%} with a face) -> {output}")


DEMO_SENTENCE = ("Hello! I am a talking head made by talkface, on an ordinary computer with no graphics card. "
                 "Give me a photo and some words, and I will say them.")


@app.command()
def demo(
    output_dir: Path = typer.Option(Path("talkface-demo"), "-o", "--output-dir", help="Folder for the demo outputs."),
) -> None:
    """Animate a bundled public-domain portrait (scikit-image's astronaut) saying a sentence; no arguments needed."""
    from skimage import data

    from .portrait import animate as animate_portrait

    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"{output_dir}: exists and is not a directory.")
    output_dir.mkdir(parents=True, exist_ok=True)
    out = output_dir / "astronaut_talking.mp4"
    result = animate_portrait(data.astronaut(), out, text=DEMO_SENTENCE, progress=True)
    print(f"demo: the astronaut says {result.seconds:.1f} s of speech -> {out}")


@app.command()
@motion_options
def animate(
    image: Path = typer.Argument(..., help="Photo with one face (any common image format)."),
    output: Path = typer.Option(..., "-o", "--output", help="Video to write (.mp4)."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Speech to say (any audio or video file)."),
    text: Optional[str] = typer.Option(None, "--text", help="Text to say with the offline voice."),
    size: int = typer.Option(512, "--size", help="Face-crop size of the output: 512 or 256."),
    full: bool = typer.Option(False, "--full", help="Paste the animated face back into the whole photo."),
    face_index: Optional[int] = typer.Option(None, "--face-index", help="Which face to animate when the photo has "
                                             "several (0 = leftmost)."),
    *, motion: MotionControls,
) -> None:
    """Make the face in IMAGE say --audio or --text (SadTalker-style one-photo animation, on the CPU)."""
    from .portrait import animate as animate_portrait

    _output_path(output, (".mp4",))
    _check_speech_source(audio, text)
    if size not in (256, 512):
        raise UserError(f"--size must be 256 or 512, got {size}.")
    if face_index is not None and face_index < 0:
        raise UserError(f"--face-index must be 0 or more, got {face_index}.")
    result = animate_portrait(image, output, audio=audio, text=text, controls=motion, size=size, full=full,
                              face_index=face_index, progress=True)
    print(f"animated {result.motion.n_frames} frames ({result.seconds:.2f} s) -> {output}")


@app.command("eval")
def eval_(
    generated: Path = typer.Argument(..., help="Generated talking-head video to score."),
    reference: Optional[Path] = typer.Option(None, "--reference", help="Ground-truth video (same frame size) for "
                                             "PSNR/SSIM, LMD and mouth-opening correlation."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Speech the video should follow (default: its own "
                                         "audio track)."),
    report: Path = typer.Option(..., "--report", help="Folder for report.json, report.md and the plots."),
    speech_signal: str = typer.Option("envelope", "--speech-signal", help="Speech signal for the AV offset: "
                                      "envelope (speech-band amplitude) or openness (phoneme encoder)."),
    max_lag: int = typer.Option(10, "--max-lag", help="Largest AV offset searched, in frames (25 fps)."),
) -> None:
    """Score GENERATED: image fidelity and landmarks vs --reference, lip sync vs the audio, blinks, head motion."""
    from .eval import evaluate, write_report

    if report.exists() and not report.is_dir():
        raise UserError(f"{report}: exists and is not a folder.")
    result = evaluate(generated, reference, audio, speech_signal=speech_signal, max_lag=max_lag, progress=True)
    md = write_report(result, report)
    v = result.values
    summary = ", ".join(f"{k} {v[k]:.3g}" for k in ("psnr_face", "lmd_mouth_px", "mouth_corr", "av_offset",
                                                      "av_confidence") if k in v)
    print(f"evaluated {result.meta['frames']} frames: {summary} -> {md}")


@app.command()
def tts(
    text: str = typer.Argument(..., help="English text to speak (numbers and symbols are spelled out)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the speech (.wav or .flac)."),
    phonemes: Optional[Path] = typer.Option(None, "--phonemes", help="Also write the phone timings (.tsv: "
                                            "label, start, end in seconds)."),
    rate: float = typer.Option(1.0, "--rate", help="Speaking rate: 1.0 normal, 1.2 faster, 0.8 slower."),
) -> None:
    """Speak TEXT offline with the bundled Piper voice; exact phone timings come with it."""
    import soundfile as sf

    from .atomic import atomic_path, write_text_atomic
    from .audio.tts import VoiceSettings, synthesize

    _output_path(output, (".wav", ".flac"))
    if phonemes is not None:
        _output_path(phonemes, (".tsv",))
    if not 0.3 <= rate <= 3.0:
        raise UserError(f"--rate {rate} is out of range (0.3 to 3.0).")
    audio, sr, phones = synthesize(text, VoiceSettings(length_scale=1.0 / rate))
    with atomic_path(output) as tmp:
        sf.write(str(tmp), audio, sr, subtype="PCM_16", format=output.suffix[1:].upper())
    if phonemes is not None:
        write_text_atomic(phonemes, "".join(f"{p.label}\t{p.start:.4f}\t{p.end:.4f}\n" for p in phones))
    print(f"spoke {len(audio) / sr:.2f} s ({len(phones)} phones) -> {output}")


@app.command("train-audio")
def train_audio(
    minutes: float = typer.Option(24.0, "--minutes", help="Training wall-clock budget (corpus building excluded)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Weights file (.safetensors); default: "
                                          "the package's shipped weights."),
) -> None:
    """Train the phoneme-posterior encoder on a corpus built on the fly (TTS + real speech)."""
    from .audio.train import WEIGHTS, train

    if minutes <= 0:
        raise UserError("--minutes must be positive.")
    if output is not None:
        _output_path(output, (".safetensors",))
    train(minutes, output or WEIGHTS)


@app.command()
def fit(
    video: Path = typer.Argument(..., help="Video of one person talking (5-60 s, with their own audio)."),
    output: Path = typer.Option(..., "-o", "--output", help="Avatar directory to create (NAME.avatar)."),
    seconds: float = typer.Option(10.0, "--seconds", help="Train on at most this many seconds from the start."),
    preset: str = typer.Option("fast", "--preset", help="fast (256x256) or quality (512x512)."),
    iterations: Optional[int] = typer.Option(None, "--iterations", help="Override the preset's iteration count."),
) -> None:
    """Fit a personalized Gaussian talking head to VIDEO (resumes if a previous fit was interrupted)."""
    from .avatar import PRESETS, fit as fit_avatar, preset as avatar_preset
    from .avatar.runtime import configure_threads

    if output.suffix != ".avatar":
        raise UserError(f"{output}: the avatar directory name must end in .avatar.")
    if output.exists() and not output.is_dir():
        raise UserError(f"{output}: exists and is not a directory.")
    if preset not in PRESETS:
        raise UserError(f"--preset {preset!r} is unknown; choose {' or '.join(PRESETS)}.")
    if not 3.0 <= seconds <= 600.0:
        raise UserError(f"--seconds {seconds} is out of range (3 to 600).")
    if iterations is not None and iterations < 1:
        raise UserError("--iterations must be at least 1.")
    cfg = avatar_preset(preset)
    cfg.data.seconds = seconds
    if iterations is not None:
        cfg.train.iterations = iterations
    configure_threads()
    fit_avatar(video, output, cfg, progress=True)
    print(f"fitted avatar -> {output}")


@app.command()
def speak(
    avatar: Path = typer.Argument(..., help="Avatar directory made by `talkface fit`."),
    output: Path = typer.Option(..., "-o", "--output", help="Video to write (.mp4)."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Speech to say (any audio or video file)."),
    text: Optional[str] = typer.Option(None, "--text", help="Text to say with the offline voice."),
    pose: str = typer.Option("train", "--pose", help="train (replay the training head motion), still, or a "
                             "driving video."),
    blink: str = typer.Option("train", "--blink", help="train, off, or a video to take blinks and gaze from."),
) -> None:
    """Make AVATAR say --audio or --text; the head is pasted back into the source framing, 25 fps, audio muxed."""
    from .avatar import speak as speak_avatar
    from .avatar.store import read_config

    _output_path(output, (".mp4",))
    _check_speech_source(audio, text)
    for flag, value, named in (("--pose", pose, ("train", "still")), ("--blink", blink, ("train", "off"))):
        if value not in named and not Path(value).is_file():
            raise UserError(f"{flag} {value!r} is neither {' nor '.join(named)} nor an existing video file.")
    read_config(avatar)
    n = speak_avatar(avatar, output, audio=audio, text=text, pose=pose, blink=blink)
    print(f"spoke {n} frames ({n / 25:.2f} s) -> {output}")


def main() -> None:
    """Console-script entry point: run the app and turn user errors into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        print(f"talkface: error: {exc}", file=sys.stderr)
        sys.exit(UserError.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("talkface: interrupted", file=sys.stderr)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors arrive here with standalone_mode=False
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
