"""The log-mel encoder front end: shapes, causality, level, and refused configurations."""

import pytest
import torch

from focalcli.model.wavlm import LogMelFrontEnd, WavLM

SMALL = dict(hidden_dims=[8], kernel_sizes=[2], strides=[2], num_layers=1, dim=16, ffn_dim=16,
             num_heads=2, conv_pos=4, conv_pos_groups=2, window_size=16, frontend="logmel")


def tone(seconds: float, level: float = 0.1) -> torch.Tensor:
    t = torch.arange(int(16000 * seconds)) / 16000
    return (level * torch.sin(2 * torch.pi * 440 * t))[None]


def test_frames_are_50_hz_and_stack_two_sub_frames():
    front = LogMelFrontEnd(n_mels=80, n_fft=400, hop_length=160, stack=2, sample_rate=16000)
    feats, ctx = front(tone(1.0)[:, None])
    assert feats.shape == (1, 160, 50)
    assert ctx[0] is not None and ctx[0].shape == (1, 1, 240)
    # a length that is not a multiple of 320 is padded up, as the convolution front end does
    assert front(tone(0.51)[:, None])[0].shape[-1] == 26


def test_no_sample_after_a_frame_end_is_used():
    front = LogMelFrontEnd(n_mels=40, n_fft=400, hop_length=160, stack=2, sample_rate=16000)
    sig = tone(1.0)
    changed = sig.clone()
    changed[:, 6400:] = torch.randn(1, 16000 - 6400)
    a, _ = front(sig[:, None])
    b, _ = front(changed[:, None])
    assert torch.equal(a[..., :20], b[..., :20])  # frames 0-19 end at sample 6400
    assert not torch.equal(a[..., 20:], b[..., 20:])


def test_level_survives_into_the_features():
    front = LogMelFrontEnd(n_mels=40, n_fft=400, hop_length=160, stack=2, sample_rate=16000)
    quiet, _ = front(tone(0.5, 0.01)[:, None])
    loud, _ = front(tone(0.5, 0.3)[:, None])
    # 30x the amplitude is log(30) / LOG_SCALE higher in the band that holds the tone
    expected = torch.log(torch.tensor(30.0)).item() / LogMelFrontEnd.LOG_SCALE
    assert loud.amax() - quiet.amax() == pytest.approx(expected, abs=0.01)


def test_encoder_has_no_front_end_weights():
    enc = WavLM(**SMALL, causal=True)
    assert not any("feature_extractor" in k for k in enc.state_dict())


def voice(f0_start: float, f0_end: float, seconds: float) -> torch.Tensor:
    """(1, N): a gliding harmonic voice with a little noise."""
    n = int(16000 * seconds)
    f0 = torch.linspace(f0_start, f0_end, n, dtype=torch.float64)
    phase = 2 * torch.pi * torch.cumsum(f0, 0) / 16000
    sig = sum(torch.sin(k * phase) / k for k in range(1, 6))
    noise = torch.randn(n, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (0.1 * sig + 0.002 * noise).float()[None]


def test_pitch_features_follow_the_voice_causally():
    front = LogMelFrontEnd(n_mels=40, n_fft=400, hop_length=160, stack=2, sample_rate=16000,
                           pitch=True)
    sig = voice(110.0, 220.0, 1.0)
    feats, ctx = front(sig[:, None])
    assert feats.shape == (1, 82, 50) and ctx[0] is not None and ctx[0].shape == (1, 1, 320)
    octaves, periodicity = feats[0, -2], feats[0, -1]
    # frame t's window is the 40 ms ending at (t + 1) * 320, centred on t * 320
    f0_mid = 110.0 + 110.0 * torch.arange(50) * 320 / 16000  # the glide is linear in Hz
    expected = torch.log2(f0_mid / 150.0)
    assert (periodicity[2:] > 0.8).all()
    assert ((octaves[2:] / periodicity[2:]) - expected[2:]).abs().max() < 0.05  # 60 cents
    changed = sig.clone()
    changed[:, 6400:] = 0.1 * torch.randn(1, 16000 - 6400)
    other, _ = front(changed[:, None])
    assert torch.equal(feats[..., :20], other[..., :20])
    assert (other[0, -1, 22:] < 0.5).all()  # noise is aperiodic


@pytest.mark.parametrize("pitch_features", [False, True])
def test_encoder_streams_in_pieces_as_a_whole(pitch_features):
    enc = WavLM(**SMALL, causal=True, pitch_features=pitch_features).eval()
    sig = voice(100.0, 180.0, 0.64) + 0.01 * torch.randn(1, 10240)
    with torch.no_grad():
        whole, _ = enc(sig)
        state, parts = None, []
        for i in range(0, 10240, 1280):
            out, state = enc(sig[:, i:i + 1280], state)
            parts.append(out)
    torch.testing.assert_close(torch.cat(parts, dim=1), whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(causal=False), "only implemented for causal"),
    (dict(causal=True, frontend="fbank"), "frontend must be"),
    (dict(causal=True, hop_length=500), "hop_length"),
])
def test_bad_front_end_configs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WavLM(**{**SMALL, **kwargs})
