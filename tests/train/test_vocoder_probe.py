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


def test_tilt_raises_the_highs_by_the_asked_db_per_octave_and_keeps_the_level() -> None:
    import numpy as np

    from focalcli.train.vocoder_probe import cache_name, file_tilt, tilted

    t = np.arange(16000) / 16000
    low = np.sin(2 * np.pi * 500.0 * t)
    high = np.sin(2 * np.pi * 4000.0 * t)  # three octaves above 500 Hz
    sig = (0.2 * low + 0.2 * high).astype(np.float32)
    out = tilted(sig, 2.0)
    spec = np.abs(np.fft.rfft(out))
    gain_db = 20 * np.log10(spec[4000] / spec[500])
    assert out.dtype == np.float32 and len(out) == len(sig)
    assert abs(gain_db - 6.0) < 0.05  # 2 dB per octave over 3 octaves
    assert abs(np.sqrt(np.mean(out**2)) - np.sqrt(np.mean(sig**2))) < 1e-4
    assert tilted(sig, 0.0) is sig
    tilts = [file_tilt(f"f{i}.flac", 3.0) for i in range(200)]
    assert all(-3.0 <= v <= 3.0 for v in tilts) and min(tilts) < -2 and max(tilts) > 2
    assert file_tilt("a.flac", 3.0) == file_tilt("a.flac", 3.0) != file_tilt("b.flac", 3.0)
    assert cache_name("train", tilt=3.0) == "train-tilt3"


def test_folder_pieces_trim_and_join_short_files_per_folder(tmp_path) -> None:
    import numpy as np
    import pytest
    import soundfile as sf

    from focalcli.train.vocoder_probe import ProbeError, folder_pieces

    rng = np.random.default_rng(0)
    for sub, count in (("a", 5), ("b", 1)):
        (tmp_path / sub).mkdir()
        for i in range(count):  # 0.5 s of silence, 3 s of noise, 0.5 s of silence
            sig = np.zeros(64000, dtype=np.float32)
            sig[8000:56000] = 0.1 * rng.standard_normal(48000)
            sf.write(tmp_path / sub / f"{i}.wav", sig, 16000, subtype="PCM_16")
    (tmp_path / "a" / "notes.txt").write_text("not audio")
    pieces = folder_pieces(tmp_path, seconds=8.0)
    # a: 3 trimmed files (> 8 s) make a piece, then 2 more; b stays on its own.
    assert [name for name, _ in pieces] == ["a/0.wav", "a/3.wav", "b/0.wav"]
    lengths = [len(sig) for _, sig in pieces]
    trimmed = lengths[-1]
    assert 48000 <= trimmed <= 48000 + 5 * 320  # silence cut to a few frames' margin
    assert lengths == [3 * trimmed, 2 * trimmed, trimmed]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProbeError, match="no .wav or .flac"):
        folder_pieces(tmp_path / "empty")


def test_a_missing_cache_names_the_command_that_makes_it(tmp_path, monkeypatch) -> None:
    import pytest

    from focalcli.train import vocoder_probe

    monkeypatch.setattr(vocoder_probe, "FEATS_DIR", tmp_path)
    with pytest.raises(vocoder_probe.ProbeError, match="cache --split train --tilt 3'"):
        vocoder_probe.load_cache("train-tilt3")
    with pytest.raises(vocoder_probe.ProbeError, match="cache --split train --speed 0.9'"):
        vocoder_probe.load_split("train", 0.9)
    with pytest.raises(vocoder_probe.ProbeError, match="--folder DIR --name debian'"):
        vocoder_probe.load_cache("debian")
    for name in ("train", "dev-speed0.9", "a/b", ""):
        with pytest.raises(vocoder_probe.ProbeError, match="--name"):
            vocoder_probe.cache_folder(tmp_path, name)
