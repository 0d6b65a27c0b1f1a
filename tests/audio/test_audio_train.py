"""The encoder's training pieces run for real on a tiny espeak corpus: batches, loss, a step, save and load."""
from __future__ import annotations

import random

import numpy as np
import torch

from talkface.audio.corpus import espeak_settings, espeak_utterance
from talkface.audio.encoder import EncoderConfig, PhonemeEncoder, load_encoder, save_encoder
from talkface.audio.phones import PHONES
from talkface.audio.train import CropSampler, make_batch, phone_and_viseme_loss
from talkface.audio.visemes import phone_to_viseme_matrix


def test_two_training_steps_lower_the_loss_and_round_trip(tmp_path):
    rng = random.Random(0)
    texts = ["the cat sat on the mat", "a quick brown fox jumps over the dog", "please call me back soon"]
    utts = [espeak_utterance(t, *espeak_settings(rng)) for t in texts]
    assert all(u.labels.max() < len(PHONES) and len(u.labels) > 20 for u in utts)
    g = np.random.default_rng(0)
    mel, labels = make_batch([(CropSampler(utts, g), 1.0)], [], g, batch=4)
    assert mel.shape == (4, 401, 80) and labels.shape == (4, 200)
    torch.manual_seed(0)
    model = PhonemeEncoder(EncoderConfig(channels=32, hidden=16, embedding=16))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    vm = torch.from_numpy(phone_to_viseme_matrix())
    losses = []
    for _ in range(3):
        logits, emb = model(mel)
        assert logits.shape == (4, 201, len(PHONES)) and emb.shape == (4, 201, 16)
        loss = phone_and_viseme_loss(logits[:, :200], labels, vm)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
    path = tmp_path / "enc.safetensors"
    save_encoder(model.eval(), path, {"steps": 3})
    back = load_encoder(str(path))
    with torch.inference_mode():
        np.testing.assert_allclose(back(mel[:1])[0].numpy(), model(mel[:1])[0].numpy(), atol=1e-5)
