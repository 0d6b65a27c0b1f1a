"""Media I/O on real files: fps normalisation, audio alignment, round trips, formats, bad input."""
from __future__ import annotations

import av
import numpy as np
import pytest

from talkface.errors import UserError
from talkface.media import VideoWriter, iter_frames, load_audio, probe, read_image


def _write_with_av(path, frames, fps, vcodec, audio=None, sr=16000, acodec=None, pix_fmt="yuv420p"):
    """Encode frames (+ audio) with an arbitrary codec/container, to test decoding of what users bring."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], pix_fmt
        streams = [vs]
        if audio is not None:
            as_ = out.add_stream(acodec, rate=sr, layout="mono")
        for i, f in enumerate(frames):
            for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if audio is not None:
            af = av.AudioFrame.from_ndarray(audio[None].astype(np.float32), format="fltp", layout="mono")
            af.sample_rate = sr
            for p in as_.encode(af):
                out.mux(p)
            for p in as_.encode(None):
                out.mux(p)


def _flash_video(n=50, flash_at=30):
    """Dark frames with one white frame at `flash_at`, and a click in the audio at the same instant."""
    frames = [np.full((64, 96, 3), 20, np.uint8) for _ in range(n)]
    frames[flash_at][:] = 235
    sr = 16000
    audio = np.zeros(int(n / 25 * sr), np.float32)
    start = int(flash_at / 25 * sr)
    audio[start:start + 160] = 0.8 * np.sin(np.arange(160) * 2 * np.pi * 1000 / sr)
    return frames, audio, sr


def test_fps_normalised_by_timestamps(data_dir):
    """A 30 fps clip and the odd 22.13 fps clip come out at 25 fps with the same duration."""
    for name in ("videos/obama_clip1.mp4", "videos_hard/odd_fps_22.mp4"):
        path = data_dir / name
        n = sum(1 for _ in iter_frames(path))
        assert abs(n / 25 - probe(path).duration) <= 0.06, name


def test_round_trip_keeps_duration_and_sync(data_dir, tmp_path):
    """decode → encode → decode keeps the duration within 40 ms and audio in sync with the source (lag 0)."""
    src = data_dir / "videos/obama_clip1.mp4"
    audio = load_audio(src)
    out = tmp_path / "rt.mp4"
    with VideoWriter(out, audio=audio) as w:
        for f in iter_frames(src):
            w.write(f)
    info = probe(out)
    assert info.has_audio and info.fps == 25
    assert abs(info.duration - probe(src).duration) <= 0.04
    back = load_audio(out)
    seg = back[16000:48000]
    ref = audio[16000 - 800:48000 + 800]
    lag = int(np.argmax(np.correlate(ref, seg, "valid"))) - 800
    assert abs(lag) <= 16  # ≤ 1 ms


def test_flash_and_click_stay_together(tmp_path):
    """A white frame and an audio click written at the same instant decode at the same instant (±1 frame)."""
    frames, audio, sr = _flash_video()
    out = tmp_path / "flash.mp4"
    with VideoWriter(out, audio=audio, audio_rate=sr) as w:
        for f in frames:
            w.write(f)
    lum = [f.mean() for f in iter_frames(out)]
    flash_t = int(np.argmax(lum)) / 25
    back = load_audio(out)
    click_t = int(np.argmax(np.abs(back))) / 16000
    assert abs(flash_t - click_t) <= 0.04


@pytest.mark.parametrize("suffix,vcodec,acodec", [
    (".mkv", "libvpx-vp9", "opus"), (".webm", "libvpx-vp9", "opus"), (".avi", "mpeg4", "pcm_s16le"),
    (".mov", "libx265", "aac"), (".mp4", "mpeg4", "aac")])
def test_decodes_common_containers_and_codecs(tmp_path, suffix, vcodec, acodec):
    """Videos in other containers/codecs decode to the right frame count, and their audio to the right length."""
    frames, audio, _ = _flash_video(n=25, flash_at=10)
    sr = 48000 if acodec == "opus" else 16000
    audio = np.interp(np.arange(int(len(audio) * sr / 16000)) * 16000 / sr, np.arange(len(audio)), audio).astype(np.float32)
    path = tmp_path / f"clip{suffix}"
    _write_with_av(path, frames, 25, vcodec, audio, sr, acodec)
    out = list(iter_frames(path))
    assert len(out) == 25 and out[0].shape == (64, 96, 3)
    assert int(np.argmax([f.mean() for f in out])) == 10
    assert abs(len(load_audio(path)) / 16000 - 1.0) < 0.1  # AAC/Opus add up to a frame of padding


@pytest.mark.parametrize("name", ["speech/playaudio_20s.mp3", "speech/acknowledgement_english.m4a",
                                  "speech_multilingual/german_24bit_48k.wav", "speech/RD_Radio31_000.wav"])
def test_audio_formats_become_16k_mono(data_dir, name):
    """mp3, m4a, 24-bit/48 kHz and stereo wav all load as 16 kHz mono float32 of the right duration."""
    path = data_dir / name
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / 16000 - probe(path).duration) < 0.1
    assert 0.005 < float(np.sqrt(np.mean(audio ** 2))) < 1.0


def test_audio_flac_and_ogg(tmp_path, data_dir):
    """FLAC and Ogg/Opus written from a real clip decode back to the same speech."""
    ref = load_audio(data_dir / "speech/LJ001-0001.wav")[:32000]
    for suffix, codec, rate in ((".flac", "flac", 16000), (".ogg", "libopus", 48000)):
        path = tmp_path / f"a{suffix}"
        with av.open(str(path), "w") as out:
            st = out.add_stream(codec, rate=rate, layout="mono")
            af = av.AudioFrame.from_ndarray((ref[None] * 32767).astype(np.int16), format="s16", layout="mono")
            af.sample_rate = 16000
            resampler = av.AudioResampler(format=st.codec_context.format.name, layout="mono", rate=rate)
            for frame in resampler.resample(af) + resampler.resample(None):
                for p in st.encode(frame):
                    out.mux(p)
            for p in st.encode(None):
                out.mux(p)
        back = load_audio(path)
        lag = int(np.argmax(np.correlate(back[:12000], ref[1000:9000], "valid")))
        n = min(len(back) - lag, len(ref) - 1000) - 1000
        assert np.corrcoef(back[lag:lag + n], ref[1000:1000 + n])[0, 1] > 0.95, suffix


def test_long_audio_streams_in_chunks(data_dir):
    """iter_audio yields bounded chunks whose concatenation is the whole file."""
    from talkface.media import iter_audio
    path = data_dir / "speech/english_60s.wav"
    chunks = list(iter_audio(path, chunk_seconds=5.0))
    assert max(len(c) for c in chunks) == 80000
    assert abs(sum(len(c) for c in chunks) - len(load_audio(path))) == 0


def test_writer_pads_odd_sizes_and_abort_leaves_nothing(tmp_path):
    frames = [np.full((63, 81, 3), 100, np.uint8)] * 3
    out = tmp_path / "odd.mp4"
    with VideoWriter(out) as w:
        for f in frames:
            w.write(f)
    assert probe(out).width == 82 and probe(out).height == 64
    failed = tmp_path / "failed.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(failed) as w:
            w.write(frames[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == [out]


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "truncated", "audio_only", "zero_length"])
def test_bad_inputs_are_user_errors(tmp_path, data_dir, case):
    """Every bad input raises a one-sentence UserError (never a traceback from deep inside)."""
    path = {"missing": tmp_path / "nope.mp4", "directory": tmp_path}.get(case, tmp_path / f"{case}.mp4")
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("this is not a video\n" * 100)
    elif case == "truncated":
        blob = (data_dir / "videos/obama_clip1.mp4").read_bytes()
        path.write_bytes(blob[: len(blob) // 3])
    elif case == "audio_only":
        path = data_dir / "speech/playaudio_20s.mp3"
    elif case == "zero_length":
        with av.open(str(path), "w") as out:
            st = out.add_stream("libx264", rate=25)
            st.width, st.height, st.pix_fmt = 64, 64, "yuv420p"
    with pytest.raises(UserError) as err:
        list(iter_frames(path))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["happy1.png", "lyl_rgba.png", "hallo_7_huge.jpg", "obama.jpg", "people_0.png"])
def test_portraits_load_as_rgb(data_dir, name):
    img = read_image(data_dir / "portraits" / name)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 10
