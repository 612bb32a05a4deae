"""Reduced compute precision: which layers change, how close they stay to fp32, and that a
model built from the file at a precision equals one converted after an fp32 load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from focalcli.engine import decode_tokens, encode_signal
from focalcli.model import ModelLoadError, load_codec
from focalcli.model import precision as prec
from focalcli.model.testing import save_tiny_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny model's layers are all below MIN_NUMEL: convert everything above 256 values."""
    monkeypatch.setattr(prec, "MIN_NUMEL", 256)


def signal(n: int = 12800) -> np.ndarray:
    t = np.arange(n) / 16000
    return (0.3 * np.sin(2 * np.pi * 150 * t) * (1 + np.sin(2 * np.pi * 3 * t))
            ).astype(np.float32)[None]


def snr_db(ref: np.ndarray, other: np.ndarray) -> float:
    return float(10 * np.log10((ref ** 2).sum() / ((ref - other) ** 2).sum()))


@torch.inference_mode()
def test_linear_and_conv_replacements_stay_close() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 7, 256)
    lin = nn.Linear(256, 512)
    ref = lin(x)
    for layer in (prec.Bf16Linear(lin.weight, lin.bias), prec.Int8Linear(lin.weight, lin.bias)):
        y = layer(x)
        assert y.dtype == torch.float32 and y.shape == ref.shape
        assert float((y - ref).norm() / ref.norm()) < 0.02
    conv = nn.Conv1d(64, 64, 7, groups=4, padding=3)
    z = torch.randn(2, 64, 20)
    out = prec.Bf16Conv(conv)(z)
    assert float((out - conv(z)).norm() / conv(z).norm()) < 0.01
    assert prec.Bf16Conv(conv).kernel_size == (7,)
    pointwise = nn.Conv1d(64, 96, 1)
    for p in ("bf16", "int8"):
        y = prec.PointwiseConv(pointwise, p)(z)
        assert float((y - pointwise(z)).norm() / pointwise(z).norm()) < 0.02


@torch.inference_mode()
def test_a_cpu_without_onednns_bf16_path_keeps_plain_bf16_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Where oneDNN refuses the bf16 reorder (an AVX2-only CPU), the layers are built with plain
    bfloat16 weights and give the plain products, instead of failing to load."""

    real = torch.ops.mkldnn

    class NoBf16Path:
        """TEST DOUBLE of ``torch.ops.mkldnn`` on a CPU without the bf16 path."""

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

        @staticmethod
        def _reorder_linear_weight(*_: object) -> None:
            raise RuntimeError("mkldnn_reorder_linear_weight: bf16 path needs the cpu support")

    prec._can_prepack.cache_clear()
    monkeypatch.setattr(torch.ops, "mkldnn", NoBf16Path())
    try:
        assert not prec._can_prepack()
        torch.manual_seed(3)
        lin, conv = nn.Linear(64, 32), nn.Conv1d(16, 24, 3)
        layer, bconv = prec.Bf16Linear(lin.weight, lin.bias), prec.Bf16Conv(conv)
        assert layer._packed is None and bconv._packed is None
        x, z = torch.randn(4, 64), torch.randn(1, 16, 20)
        plain = lin.weight.detach().bfloat16()
        assert torch.equal(layer(x), nn.functional.linear(x.bfloat16(), plain).float() + lin.bias)
        assert float((bconv(z) - conv(z)).norm() / conv(z).norm()) < 0.02
    finally:
        monkeypatch.undo()
        prec._can_prepack.cache_clear()


@torch.inference_mode()
def test_prepacked_bf16_weights_give_the_plain_products_bitwise() -> None:
    """The oneDNN-prepacked weights are a layout, not an approximation; the state dict and
    ``weight`` still give the plain bfloat16 matrix."""
    torch.manual_seed(2)
    lin = nn.Linear(256, 512)
    layer = prec.Bf16Linear(lin.weight, lin.bias)
    if not prec._can_prepack():
        pytest.skip("no oneDNN")
    assert layer._packed is not None
    plain = lin.weight.detach().bfloat16()
    assert torch.equal(layer.weight, plain)
    assert torch.equal(layer.state_dict()["weight"], plain)
    for rows in (1, 4, 37):
        x = torch.randn(rows, 256)
        expected = nn.functional.linear(x.bfloat16(), plain).float() + lin.bias
        assert torch.equal(layer(x), expected)
    conv = nn.Conv1d(64, 96, 3, 2)
    packed, unpacked = prec.Bf16Conv(conv), prec.Bf16Conv(conv)
    unpacked._packed = None
    z = torch.randn(1, 64, 41)
    assert packed._packed is not None and torch.equal(packed(z), unpacked(z))
    # an opaque prepacked tensor has no storage: copies rebuild it from the plain weight
    import copy

    layer_copy, conv_copy = copy.deepcopy(layer), copy.deepcopy(packed)
    assert layer_copy._packed is not None and conv_copy._packed is not None
    assert torch.equal(layer_copy(x), layer(x)) and torch.equal(conv_copy(z), packed(z))


@torch.inference_mode()
@pytest.mark.parametrize(("stride", "dilation", "padding", "length"),
                         [(1, 1, 0, 10), (2, 1, 1, 9), (1, 2, 2, 12), (1, 1, 0, 300)])
def test_int8_convolution_tracks_float32(stride: int, dilation: int, padding: int, length: int
                                         ) -> None:
    """Few output frames go through the int8 product, many (the last case) through widened
    weights; both as close to float32 as an int8 linear layer."""
    torch.manual_seed(1)
    conv = nn.Conv1d(48, 80, 5, stride, padding=padding, dilation=dilation)
    x = torch.randn(1, 48, length)
    ref = conv(x)
    y = prec.Int8Conv(conv)(x)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert float((y - ref).norm() / ref.norm()) < 0.02


def test_small_layers_stay_float32(tiny: Path) -> None:
    codec = load_codec(str(tiny), precision="int8")  # every tiny layer is below MIN_NUMEL
    assert codec.precision == "int8"
    assert all(p.dtype == torch.float32 for p in codec.parameters())


@pytest.mark.parametrize("precision", ["bf16", "mixed", "int8"])
def test_reduced_precision_tracks_fp32(tiny: Path, precision: str, small_threshold: None
                                       ) -> None:
    fp32 = load_codec(str(tiny))
    reduced = load_codec(str(tiny), precision=precision)
    kinds = {type(m).__name__ for m in reduced.modules()}
    assert ("Bf16Linear" in kinds) == (precision != "int8")
    assert ("Int8Linear" in kinds) == (precision != "bf16")
    assert ("Int8Conv" in kinds) == (precision != "bf16")
    assert "Bf16Conv" in kinds
    if precision == "mixed":  # bfloat16 where tokens are made, int8 where audio is made
        for name, m in reduced.named_modules():
            grouped_or_transposed = isinstance(m, prec.Bf16Conv) and (m.transposed
                                                                       or m.groups > 1)
            if (type(m) in (prec.Bf16Linear, prec.Int8Linear, prec.Bf16Conv, prec.Int8Conv)
                    and not grouped_or_transposed):  # those are bf16 in int8 too
                token_side = name.split(".")[0] in ("encoder", "compressor")
                assert isinstance(m, (prec.Bf16Linear, prec.Bf16Conv)) == token_side, name
        assert isinstance(reduced.decoder.backbone.embedding, prec.Int8Conv)
        assert isinstance(reduced.encoder.feature_extractor.layers[1].conv, prec.Bf16Conv)
    assert not [n for n, m in reduced.named_modules() if type(m) is nn.Linear
                and m.weight.numel() >= 256 and n not in prec.KEEP_FP32]
    # depthwise convolutions stay float32 (faster there), kernel-1 ones become linear layers
    depthwise = [m for m in reduced.modules() if type(m) is nn.Conv1d and m.groups > 1
                 and m.groups == m.in_channels and m.weight.numel() >= 256]
    assert depthwise and all(m.weight.dtype == torch.float32 for m in depthwise)
    assert isinstance(reduced.compressor.layers[0].focal_block.modulation.context_proj,
                      prec.PointwiseConv)
    # the layer deciding the token bits is kept in float32 whatever the threshold says
    assert type(reduced.compressor.out_proj) is nn.Linear
    assert type(reduced.decompressor.in_proj) is nn.Linear
    assert reduced.weights_hash == fp32.weights_hash
    assert reduced.token_space == fp32.token_space
    sig = signal()
    toks = encode_signal(fp32, sig)
    agreement = float((encode_signal(reduced, sig) == toks).mean())
    assert agreement > 0.8
    ref = decode_tokens(fp32, toks, sig.shape[1])
    out = decode_tokens(reduced, toks, sig.shape[1])
    assert out.shape == ref.shape
    assert snr_db(ref, out) > {"bf16": 25, "mixed": 15, "int8": 15}[precision]


@pytest.mark.parametrize("precision", ["bf16", "mixed", "int8"])
def test_built_from_the_file_equals_converted_after_loading(tiny: Path, precision: str,
                                                            small_threshold: None) -> None:
    streamed = load_codec(str(tiny), precision=precision)
    converted = prec.apply_precision(load_codec(str(tiny)), precision)
    a, b = streamed.state_dict(), converted.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    sig = signal(6400)
    np.testing.assert_array_equal(encode_signal(streamed, sig), encode_signal(converted, sig))


def test_fp32_is_untouched(tiny: Path) -> None:
    a, b = load_codec(str(tiny)), load_codec(str(tiny), precision="fp32")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_bad_precision_and_bad_weights_are_one_line_errors(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown precision 'fp16'"):
        load_codec(str(tiny), precision="fp16")
    config = json.loads((tiny / "config.json").read_text())
    config["decoder_config"]["ffn_dim"] = 48
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(tiny / "model.safetensors", tmp_path)
    with pytest.raises(ModelLoadError, match="do not fit") as e:
        load_codec(str(tmp_path), precision="bf16")
    assert "\n" not in str(e.value)


@torch.inference_mode()
def test_bundled_model_keeps_its_tokens_in_the_streaming_default() -> None:
    """The streaming default on the bundled model: most tokens as fp32, audio close."""
    from focalcli.model.registry import STREAM_PRECISION

    fp32 = load_codec("focal-small")
    reduced = load_codec("focal-small", precision=STREAM_PRECISION)
    sig = signal(32000) + 0.01 * np.sin(np.arange(32000, dtype=np.float32) / 3)[None]
    toks = encode_signal(fp32, sig)
    assert float((encode_signal(reduced, sig) == toks).mean()) >= 0.95
    ref = decode_tokens(fp32, toks, sig.shape[1])
    assert snr_db(ref, decode_tokens(reduced, toks, sig.shape[1])) > 30


@torch.inference_mode()
def test_bundled_model_keeps_98_percent_of_its_speech_tokens_in_the_streaming_default() -> None:
    """The bar of docs/precision.md on real speech (20 s of the dev split, if present)."""
    import sys

    from focalcli.model.registry import STREAM_PRECISION

    bench = Path(__file__).resolve().parents[2] / "bench"
    sys.path.insert(0, str(bench))
    try:
        import bench_precision
    finally:
        sys.path.remove(str(bench))
    if not (bench_precision.SPEECH / "manifest.tsv").is_file():
        pytest.skip("no speech data (shared/data/speech)")
    sig = bench_precision.speech_signal(20.0)[None]
    toks = encode_signal(load_codec("focal-small"), sig)
    reduced = encode_signal(load_codec("focal-small", precision=STREAM_PRECISION), sig)
    assert float((reduced == toks).mean()) >= 0.98


def test_file_tensors_read_what_safetensors_reads(tiny: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    expected = load_file(str(tiny / "model.safetensors"))
    got = prec.FileTensors(tiny / "model.safetensors")
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    data = (tiny / "model.safetensors").read_bytes()
    shutil.copy(tiny / "config.json", tmp_path)
    for bad in (data[:4], data[:-100], b"\xff" * 8 + data[8:]):
        (tmp_path / "model.safetensors").write_bytes(bad)
        with pytest.raises(ModelLoadError, match="model.safetensors") as e:
            load_codec(str(tmp_path), precision="int8")
        assert "\n" not in str(e.value)
