"""The join layer: streaming objects equal the whole-signal engine calls, whatever the blocks;
the container's one length rule and lost-token constant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from focalcli.container import LOST_TOKEN, FcsReader, output_length, resampled_length


@pytest.fixture(scope="module")
def codec(tmp_path_factory: pytest.TempPathFactory) -> object:
    from focalcli.engine import set_threads
    from focalcli.model import load_codec
    from focalcli.model.testing import save_tiny_model

    set_threads(1)
    return load_codec(str(save_tiny_model(tmp_path_factory.mktemp("models"), seed=3)))


def signal(n: int, rate: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    sig = 0.3 * np.sin(2 * np.pi * 200 * t) + 0.02 * rng.standard_normal(n)
    return sig.astype(np.float32)[None, :]


def test_length_rules_are_the_documented_ones() -> None:
    # 3 samples at 16 kHz last 4.5 at 24 kHz: the resampler gives 5 (half up), decoded
    # audio is 4 long (floor, the reference decoder's int(n * sr_out / sr_in))
    assert resampled_length(3, 16000, 24000) == 5
    assert output_length(3, 16000, 24000) == 4
    for n in (0, 1, 7, 16000, 44101):
        assert output_length(n, 44100, 44100) == n  # --rate source: the original count
        assert output_length(n, 16000, 24000) == n * 3 // 2
    assert LOST_TOKEN == -1 and LOST_TOKEN < 0  # the engine conceals any negative token


@pytest.mark.parametrize("block", [1, 333, 1280, 50000])
def test_stream_encoder_equals_encode_signal(codec: object, block: int) -> None:
    from focalcli.audio import resample
    from focalcli.engine import encode_signal
    from focalcli.pipeline import StreamEncoder

    audio = signal(22050, 22050)
    with StreamEncoder(codec, 22050) as enc:
        parts = [enc.push(audio[:, i : i + block]) for i in range(0, audio.shape[1], block)]
        parts.append(enc.flush())
        assert enc.frames_in == audio.shape[1]
    toks = np.concatenate(parts, axis=1)
    whole = encode_signal(codec, resample(audio, 22050, 16000))
    np.testing.assert_array_equal(toks, whole)


def test_stream_decoder_equals_decode_tokens_and_conceals(codec: object) -> None:
    from focalcli.engine import decode_tokens, encode_signal
    from focalcli.pipeline import StreamDecoder

    toks = encode_signal(codec, signal(16000, 16000))
    toks[:, 8:12] = LOST_TOKEN
    with StreamDecoder(codec) as dec:
        sig = np.concatenate([dec.push(toks[:, :5]), dec.push(toks[:, 5:]), dec.flush()],
                             axis=1)
    np.testing.assert_allclose(sig, decode_tokens(codec, toks), atol=1e-6)
    assert np.isfinite(sig).all()


def test_encode_source_and_decode_stream_round_trip(codec: object, tmp_path: Path) -> None:
    """encode_source writes a stream whose decode (at the source rate) has the exact length,
    and whose tokens are those of the streaming encoder."""
    import io

    from focalcli.api import _ArraySource
    from focalcli.audio.sinks import AudioSink
    from focalcli.pipeline import TokenStream, decode_stream, encode_source

    audio = signal(12345, 24000, seed=1)
    buf = io.BytesIO()
    done = encode_source(codec, _ArraySource(audio, 24000), buf, name="x", keep_toks=True)
    assert done.num_frames == audio.shape[1] and done.toks is not None
    toks, damages, num_samples = FcsReader(io.BytesIO(buf.getvalue())).read_all()
    np.testing.assert_array_equal(toks, done.toks)
    assert not damages and num_samples == audio.shape[1]

    got: list[np.ndarray] = []

    class Collect(AudioSink):
        sample_rate, channels = 24000, 1

        def write(self, sig: np.ndarray) -> None:
            got.append(sig)

    stream = TokenStream(io.BytesIO(buf.getvalue()), "x")
    assert decode_stream(stream, codec, Collect(), 24000) is None
    assert sum(g.shape[1] for g in got) == audio.shape[1]


def test_verify_decodes_every_chained_stream(codec: object) -> None:
    """verify_fcs decodes every stream and checks the sample count (here: intact, True)."""
    import io

    from focalcli.api import _ArraySource
    from focalcli.pipeline import encode_source, verify_fcs

    buf = io.BytesIO()
    encode_source(codec, _ArraySource(signal(8000, 16000), 16000), buf, name="x")

    class One:
        def for_stream(self, *args: object) -> object:
            return codec

    assert verify_fcs(buf.getvalue() * 2, "x", One()) is True  # two chained streams
