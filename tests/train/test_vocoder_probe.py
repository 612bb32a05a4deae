"""The issue-13 probe head: causal, streaming == offline, features in FARGAN's layout."""

from __future__ import annotations

import torch

from focalcli.train.vocoder_probe import TokenFeatureHead


def test_head_streaming_equals_offline_and_is_causal() -> None:
    torch.manual_seed(0)
    head = TokenFeatureHead(input_dim=6, dim=8, kernel=3).eval()
    x = torch.randn(2, 9, 6)
    with torch.no_grad():
        whole, _ = head(x)
        parts, state = [], None
        for a, b in ((0, 1), (1, 4), (4, 9)):
            y, state = head(x[:, a:b], state)
            parts.append(y)
        changed = x.clone()
        changed[:, 5:] += 1.0
        y_changed, _ = head(changed)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(y_changed[:, :5], whole[:, :5])  # no look-ahead
    assert not torch.allclose(y_changed[:, 5:], whole[:, 5:])


def test_to_features_unstandardises_two_frames_per_token() -> None:
    head = TokenFeatureHead(input_dim=6, dim=8)
    head.mean.copy_(torch.arange(40.0))
    head.std.fill_(2.0)
    f = head.to_features(torch.ones(1, 3, 40))
    assert f.shape == (1, 6, 20)
    torch.testing.assert_close(f[0, 1], torch.arange(20.0, 40.0) + 2.0)


def test_speed_perturbation_scales_length_and_pitch() -> None:
    import numpy as np

    from focalcli.train.vocoder_probe import cache_name, speed_perturbed

    t = np.arange(16000) / 16000
    sig = (0.5 * np.sin(2 * np.pi * 200.0 * t)).astype(np.float32)
    fast = speed_perturbed(sig, 1.25)
    assert fast.dtype == np.float32 and abs(len(fast) - 12800) <= 2
    peak_hz = np.argmax(np.abs(np.fft.rfft(fast[:12800]))) * 16000 / 12800
    assert abs(peak_hz - 250.0) <= 2.0  # 200 Hz played 1.25 x faster
    assert speed_perturbed(sig, 1.0) is sig
    assert cache_name("train") == "train" and cache_name("train", 0.9) == "train-speed0.9"
