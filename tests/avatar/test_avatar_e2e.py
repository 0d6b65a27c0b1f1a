"""End to end on real media: the real `fit` (few iterations, small config) on a tiny real clip, then `speak` on new
audio; and the CLI's refusals of bad input."""
from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLIP = DATA / "videos" / "obama_clip1.mp4"
SPEECH = DATA / "speech" / "LJ001-0001.wav"

pytestmark = pytest.mark.skipif(not (CLIP.is_file() and SPEECH.is_file()), reason="../shared/data is missing")


def _encoder_ready() -> bool:
    from talkface.audio.encoder import WEIGHTS

    return WEIGHTS.is_file()


def cut_clip(src: Path, dst: Path, seconds: float, start: float = 0.0) -> Path:
    """A real sub-clip (frames + its own audio) written with talkface's writer."""
    from talkface.media import VideoWriter, iter_frames, load_audio

    audio = load_audio(src)[int(start * 16000):int((start + seconds) * 16000)]
    frames = itertools.islice(iter_frames(src), int(start * 25), int((start + seconds) * 25))
    with VideoWriter(dst, 25, audio, 16000) as w:
        for f in frames:
            w.write(f)
    return dst


def small_config():
    """The fast preset shrunk so the real training loop runs in seconds (128^2 crops, few Gaussians)."""
    from talkface.avatar import preset

    cfg = preset("fast")
    cfg.data.resolution = 128
    cfg.data.seconds = 3.0
    cfg.model.face_points, cfg.model.mouth_points = 2500, 500
    cfg.model.hash_levels, cfg.model.hash_log2_size = 8, 12
    cfg.train.iterations = 700
    cfg.train.max_gaussians = 4000
    cfg.train.checkpoint_every = 100
    return cfg


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    if not _encoder_ready():
        pytest.skip("phoneme encoder weights are not trained yet")
    from talkface.avatar import fit
    from talkface.avatar.runtime import configure_threads

    configure_threads()
    root = tmp_path_factory.mktemp("avatar")
    clip = cut_clip(CLIP, root / "tiny.mp4", 4.5)
    return fit(clip, root / "tiny.avatar", small_config(), progress=False), root


def mouth_activity(video: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame inner-mouth gap (canonical cm) of a video, and the per-frame mean brightness of its mouth box."""
    from talkface.face import mouth_opening, track_video
    from talkface.media import iter_frames

    track = track_video(video)
    gap = mouth_opening(track)
    box = []
    for t, f in enumerate(iter_frames(video)):
        lm = track.landmarks2d[t, [61, 291, 13, 14]]
        x0, y0 = lm.min(0).astype(int) - 2
        x1, y1 = lm.max(0).astype(int) + 3
        box.append(f[max(0, y0):y1, max(0, x0):x1].mean())
    return np.asarray(gap), np.asarray(box)


def test_fit_writes_a_complete_avatar_and_speak_follows_the_speech(fitted):
    import soundfile as sf

    from talkface.avatar import load_avatar, speak
    from talkface.media import load_audio, probe

    avatar_dir, root = fitted
    avatar = load_avatar(avatar_dir)
    assert avatar.n_frames == 75 and avatar.meta["training"]["iterations"] == 700
    assert not (root / "tiny.avatar.partial").exists()

    speech = load_audio(SPEECH)[: int(4.0 * 16000)]
    sf.write(str(root / "speech.wav"), speech, 16000)
    silence = np.zeros(int(2.0 * 16000), np.float32)
    sf.write(str(root / "silence.wav"), silence, 16000)
    n = speak(avatar_dir, root / "speech.mp4", audio=root / "speech.wav", pose="still", blink="off", progress=False)
    assert n == int(np.ceil(len(speech) / 16000 * 25))
    info = probe(root / "speech.mp4")
    assert info.has_audio and (info.width, info.height) == (256, 256)
    assert abs(info.duration - len(speech) / 16000) < 0.15
    speak(avatar_dir, root / "silence.mp4", audio=root / "silence.wav", pose="still", blink="off", progress=False)
    gap_speech, box_speech = mouth_activity(root / "speech.mp4")
    gap_silence, box_silence = mouth_activity(root / "silence.mp4")
    # same still head and open eyes in both renders, so only the audio differs: the mouth region changes with speech
    assert box_speech.std() > 1.5 * box_silence.std()


def test_silence_closes_the_mouth(fitted):
    """Silence drives the avatar with the generator's closed-mouth coefficients: the rendered inner-lip gap in
    silence lies below the lower quartile of the gap while speaking (with the old speech-conditioned field, a
    tiny fit rendered silence at about the speaking median)."""
    avatar_dir, root = fitted
    gap_speech, _ = mouth_activity(root / "speech.mp4")
    gap_silence, _ = mouth_activity(root / "silence.mp4")
    assert gap_silence.mean() < np.percentile(gap_speech, 25)


def test_upper_face_follows_the_pose_and_blink_sources(fitted, monkeypatch):
    """Brows come with the pose source (training track replayed in step with the pose, zero for still, a driving
    video's motion since its first frame, on the avatar's own basis), the eye region with the blink source (zero
    for off: never a blink)."""
    from talkface.avatar import load_avatar
    from talkface.avatar.speak import Driver, pingpong

    avatar_dir, _ = fitted
    avatar = load_avatar(avatar_dir)
    basis = avatar.upper_basis
    k = basis.n_eyes
    truth = basis.encode(avatar.track.landmarks3d) / basis.stdev_vector()
    valid = avatar.track.valid.astype(bool)  # zero is the training frames' median face
    assert np.allclose(basis.reference, np.median(avatar.track.landmarks3d[valid], 0), atol=1e-5)
    n = avatar.n_frames
    train = Driver(avatar, "train", "train")
    for t in (0, 10, n + 7, 3 * n):
        drive = train(t)
        assert np.allclose(drive.upper, truth[pingpong(t, n)], atol=1e-5)
        assert np.array_equal(drive.pose, avatar.track.pose[pingpong(t, n)])
    still = Driver(avatar, "still", "off")(20)
    assert np.abs(still.upper).max() == 0.0
    off = Driver(avatar, "train", "off")
    assert all(np.abs(off(t).upper[:k]).max() == 0.0 and off(t).eyes[:2].max() == 0.0 for t in range(0, 3 * n, 7))

    # a driving "video": the training track with the brows raised by 2 stdev of the first brow component from
    # frame 5
    lift_c = np.zeros((1, basis.size), np.float32)
    lift_c[0, k] = 2.0 * basis.stdev_vector()[k]
    lift = basis.decode(lift_c)[0]
    plain = avatar.track.slice(0, 20)
    lifted = avatar.track.slice(0, 20)
    lifted.landmarks3d = lifted.landmarks3d.copy()
    lifted.landmarks3d[5:] += lift
    drivers = {}
    for name, track in (("plain", plain), ("lifted", lifted)):
        monkeypatch.setattr(Driver, "_driving", staticmethod(lambda path, track=track: track))
        drivers[name] = Driver(avatar, "drive.mp4", "off")
    video = drivers["lifted"]
    assert np.abs(video(0).upper).max() < 1e-5  # relative to the driving video's first frame
    lifted_by = video(12).upper - drivers["plain"](12).upper
    assert lifted_by[k] == pytest.approx(2.0, abs=0.01)
    assert np.abs(np.delete(lifted_by, k)).max() < 0.01
    assert np.abs(video(3).upper - drivers["plain"](3).upper).max() < 1e-5
    assert np.abs(video(12).upper[:k]).max() == 0.0  # --blink off: the eye region rests


def test_the_avatars_basis_explains_its_training_upper_face_better_than_the_shipped_basis(fitted):
    """On the real track: the avatar's own 12 + 8 components reconstruct its training frames' eye and brow
    landmark offsets (from their median face) with far less error than the shipped 6 + 4."""
    from talkface.avatar import load_avatar
    from talkface.avatar.condition import upper_indices
    from talkface.face import shipped_morphable

    avatar_dir, _ = fitted
    avatar = load_avatar(avatar_dir)
    basis, lm = avatar.upper_basis, avatar.track.landmarks3d
    shipped = shipped_morphable()
    for region, idx in upper_indices().items():
        offsets = lm[:, idx] - basis.reference[idx]
        own = basis.decode(basis.encode(lm))[:, idx]
        b = shipped.bases[region]
        flat = offsets.reshape(len(lm), -1)
        ship = ((flat @ b.T) @ b).reshape(offsets.shape)
        err_own = np.linalg.norm(offsets - own, axis=-1).mean()
        err_ship = np.linalg.norm(offsets - ship, axis=-1).mean()
        assert err_own < 0.75 * err_ship, region


def test_raised_brows_change_the_fitted_avatars_brows_not_its_mouth(fitted):
    """On the real fitted avatar, a brow offset changes the rendered brow band far more than the mouth."""
    import torch

    from talkface.avatar import load_avatar
    from talkface.avatar.dataset import cameras_from_track
    from talkface.avatar.model import make_camera
    from talkface.face.landmarks import BROW_0, BROW_1, LIPS_OUTER

    avatar_dir, _ = fitted
    avatar = load_avatar(avatar_dir)
    avatar.model.prepare_inference()
    res = avatar.config.data.resolution
    w2c, intr = cameras_from_track(avatar.track, avatar.boxes, res)
    cam = make_camera(w2c[0], intr[0], res)
    eyes = torch.zeros(6)

    def render(upper):
        cond = {"expression": torch.zeros(5, 12), "upper": torch.as_tensor(upper, dtype=torch.float32)}
        with torch.inference_mode():
            return avatar.model(cond, eyes, cam)["rgb"].numpy()

    basis = avatar.upper_basis
    rest = np.zeros(basis.size, np.float32)
    raised = rest.copy()
    raised[basis.n_eyes] = 2.5  # the first brow component of the avatar's own basis
    diff = np.abs(render(raised) - render(rest)).mean(-1) * 255
    pts = avatar.track.landmarks2d[0] @ avatar.boxes.affine(0, res)[:, :2].T + avatar.boxes.affine(0, res)[:, 2]

    def box_mean(idx):
        p = pts[list(idx)]
        x0, y0 = np.floor(p.min(0)).astype(int) - 2
        x1, y1 = np.ceil(p.max(0)).astype(int) + 3
        return float(diff[max(0, y0):y1, max(0, x0):x1].mean())

    brows, mouth = box_mean(BROW_0 + BROW_1), box_mean(LIPS_OUTER)
    assert brows > 2.0 and brows > 4 * mouth


@pytest.mark.slow
def test_fit_resumes_from_its_checkpoint(tmp_path):
    """Kill a fit after its first checkpoint; the next `fit` continues from that step instead of starting over."""
    if not _encoder_ready():
        pytest.skip("phoneme encoder weights are not trained yet")
    import time

    import torch

    from talkface.avatar import fit
    from talkface.avatar.trainer import work_dir

    clip = cut_clip(CLIP, tmp_path / "tiny.mp4", 4.5)
    out = tmp_path / "r.avatar"
    code = ("from talkface.avatar import fit; from tests.avatar.test_avatar_e2e import small_config\n"
            "cfg = small_config(); cfg.train.iterations = 100000; cfg.train.checkpoint_every = 20\n"
            f"fit({str(clip)!r}, {str(out)!r}, cfg, progress=False)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2])
    ckpt = work_dir(out) / "checkpoint.pt"
    try:
        deadline = time.monotonic() + 240
        while not ckpt.is_file() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    assert ckpt.is_file() and not out.exists()
    step = torch.load(ckpt, weights_only=False)["step"]
    assert step >= 20
    cfg = small_config()
    cfg.train.iterations = 100000  # the same config as the killed run, so its checkpoint is accepted...
    cfg.train.checkpoint_every = 20
    start = {}

    def strategy_probe():
        from talkface.avatar.trainer import make_strategy
        strategy = make_strategy(cfg)
        original = strategy.step

        def step_fn(model, opt, k):
            start.setdefault("first", k)
            if k >= step + 3:  # ...and we stop it right after it has shown where it resumed
                raise KeyboardInterrupt
            return original(model, opt, k)
        strategy.step = step_fn
        return strategy

    with pytest.raises(KeyboardInterrupt):
        fit(clip, out, cfg, progress=False, strategy=strategy_probe())
    assert start["first"] == step


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from talkface.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300)


def test_cli_refuses_bad_input_with_one_line(tmp_path):

    from talkface.media import VideoWriter

    short = cut_clip(CLIP, tmp_path / "short.mp4", 2.0)
    r = run_cli("fit", str(short), "-o", str(tmp_path / "s.avatar"))
    assert r.returncode == 2 and "too short" in r.stderr and "Traceback" not in r.stderr

    r = run_cli("fit", str(SPEECH), "-o", str(tmp_path / "a.avatar"))
    assert r.returncode == 2 and "no video stream" in r.stderr

    noface = tmp_path / "noface.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(noface, 25, rng.normal(0, 0.1, 16000 * 6).astype(np.float32), 16000) as w:
        for _ in range(150):
            w.write(np.full((128, 128, 3), rng.integers(0, 255), np.uint8))
    r = run_cli("fit", str(noface), "-o", str(tmp_path / "n.avatar"))
    assert r.returncode == 2 and "no face" in r.stderr

    partial = tmp_path / "p.avatar"
    partial.mkdir()
    (partial / "config.json").write_text("{}")
    r = run_cli("speak", str(partial), "--audio", str(SPEECH), "-o", str(tmp_path / "o.mp4"))
    assert r.returncode == 2 and "avatar" in r.stderr and "Traceback" not in r.stderr

    r = run_cli("speak", str(partial), "--text", "   ", "-o", str(tmp_path / "o.mp4"))
    assert r.returncode == 2 and "empty" in r.stderr

    r = run_cli("fit", str(CLIP), "-o", str(tmp_path / "x.avatar"), "--preset", "huge")
    assert r.returncode == 2 and "preset" in r.stderr
