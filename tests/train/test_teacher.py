"""The Whisper teacher (reader of CTranslate2 model.bin, log-mel, encoder) and the distillation
path of the trainer, on a tiny synthetic model.bin written here (no downloaded weights)."""

from __future__ import annotations

import copy
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from focalcli.model.testing import TINY_CONFIG
from focalcli.train.config import TrainConfig
from focalcli.train.data import CropSampler, DataConfig
from focalcli.train.loop import Trainer
from focalcli.train.losses import TeacherHead, distill_loss
from focalcli.train.teachers.features import compute_store, load_store
from focalcli.train.teachers.whisper import (
    WhisperEncoder,
    load_whisper_encoder,
    read_ct2_model,
    sig_to_teacher_feats,
    sig_to_whisper_mel,
    slaney_mel_filters,
)

DIM, FFN, LAYERS, HEADS, POS = 16, 32, 2, 2, 40


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def _write_ct2(path: Path, variables: dict[str, np.ndarray], version: int = 6,
               aliases: dict[str, str] | None = None) -> None:
    """A CTranslate2 binary (format version 6) with the given variables, as the converter
    writes it: names null-terminated and length-prefixed, dtype codes 0 f32, 2 i16, 4 f16."""
    codes = {np.dtype(np.float32): 0, np.dtype(np.int16): 2, np.dtype(np.float16): 4}

    def name(s: str) -> bytes:
        raw = s.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    out = [struct.pack("<I", version), name("WhisperSpec"), struct.pack("<II", 3, len(variables))]
    for key, arr in variables.items():
        out += [name(key), struct.pack("<B", arr.ndim), struct.pack(f"<{arr.ndim}I", *arr.shape),
                struct.pack("<BI", codes[arr.dtype], arr.nbytes), arr.tobytes()]
    aliases = aliases or {}
    out.append(struct.pack("<I", len(aliases)))
    for a, b in aliases.items():
        out += [name(a), name(b)]
    path.write_bytes(b"".join(out))


def _random_whisper(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)

    def w(*shape: int, scale: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float16)

    v: dict[str, np.ndarray] = {
        "encoder/conv1/weight": w(DIM, 80, 3, scale=0.05), "encoder/conv1/bias": w(DIM),
        "encoder/conv2/weight": w(DIM, DIM, 3), "encoder/conv2/bias": w(DIM),
        "encoder/position_encodings/encodings": w(POS, DIM),
        "encoder/layer_norm/gamma": (1 + w(DIM)).astype(np.float16),
        "encoder/layer_norm/beta": w(DIM),
        "encoder/num_heads": np.array(HEADS, dtype=np.int16),
        "decoder/embeddings/weight": w(5, DIM),  # not the encoder's: skipped by the prefix
    }
    for i in range(LAYERS):
        p = f"encoder/layer_{i}/"
        for norm in ("self_attention/layer_norm", "ffn/layer_norm"):
            v[p + norm + "/gamma"] = (1 + w(DIM)).astype(np.float16)
            v[p + norm + "/beta"] = w(DIM)
        v[p + "self_attention/linear_0/weight"] = w(3 * DIM, DIM)
        v[p + "self_attention/linear_0/bias"] = w(3 * DIM)
        v[p + "self_attention/linear_1/weight"] = w(DIM, DIM)
        v[p + "self_attention/linear_1/bias"] = w(DIM)
        v[p + "ffn/linear_0/weight"] = w(FFN, DIM)
        v[p + "ffn/linear_0/bias"] = w(FFN)
        v[p + "ffn/linear_1/weight"] = w(DIM, FFN)
        v[p + "ffn/linear_1/bias"] = w(DIM)
    return v


def _reference_encoder(v: dict[str, np.ndarray], mel: np.ndarray) -> np.ndarray:
    """Whisper's encoder written out in float64 numpy, straight from the variables."""
    f = {k: a.astype(np.float64) for k, a in v.items()}

    def conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
        xp = np.pad(x, ((0, 0), (1, 1)))
        n = (xp.shape[1] - 3) // stride + 1
        cols = np.stack([xp[:, i * stride : i * stride + 3] for i in range(n)])  # (n, C, 3)
        return np.einsum("nck,ock->on", cols, w) + b[:, None]

    def gelu(x: np.ndarray) -> np.ndarray:
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))

    def norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * g + b

    x = gelu(conv(mel.astype(np.float64), f["encoder/conv1/weight"], f["encoder/conv1/bias"], 1))
    x = gelu(conv(x, f["encoder/conv2/weight"], f["encoder/conv2/bias"], 2)).T
    x = x + f["encoder/position_encodings/encodings"][: len(x)]
    hd = DIM // HEADS
    for i in range(LAYERS):
        p = f"encoder/layer_{i}/"
        sa = p + "self_attention/"
        h = norm(x, f[sa + "layer_norm/gamma"], f[sa + "layer_norm/beta"])
        qkv = h @ f[sa + "linear_0/weight"].T + f[sa + "linear_0/bias"]
        q, k, vv = np.split(qkv, 3, axis=-1)
        heads = []
        for j in range(HEADS):
            s = slice(j * hd, (j + 1) * hd)
            a = q[:, s] @ k[:, s].T / math.sqrt(hd)
            a = np.exp(a - a.max(-1, keepdims=True))
            heads.append((a / a.sum(-1, keepdims=True)) @ vv[:, s])
        att = np.concatenate(heads, -1)
        x = x + att @ f[sa + "linear_1/weight"].T + f[sa + "linear_1/bias"]
        h = norm(x, f[p + "ffn/layer_norm/gamma"], f[p + "ffn/layer_norm/beta"])
        h = gelu(h @ f[p + "ffn/linear_0/weight"].T + f[p + "ffn/linear_0/bias"])
        x = x + h @ f[p + "ffn/linear_1/weight"].T + f[p + "ffn/linear_1/bias"]
    return norm(x, f["encoder/layer_norm/gamma"], f["encoder/layer_norm/beta"])


def _teacher_dir(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    v = _random_whisper()
    d = tmp_path / "teacher"
    d.mkdir()
    _write_ct2(d / "model.bin", v,
               aliases={"decoder/projection/weight": "decoder/embeddings/weight"})
    return d, v


def test_reader_returns_every_encoder_variable_exactly(tmp_path: Path) -> None:
    d, v = _teacher_dir(tmp_path)
    got = read_ct2_model(d / "model.bin", "encoder/")
    assert set(got) == {k for k in v if k.startswith("encoder/")}
    for k, t in got.items():
        if k == "encoder/num_heads":
            assert int(t) == HEADS
        else:
            assert t.dtype == torch.float32
            np.testing.assert_array_equal(t.numpy(), v[k].astype(np.float32))


def test_encoder_matches_a_written_out_reference(tmp_path: Path) -> None:
    d, v = _teacher_dir(tmp_path)
    enc = load_whisper_encoder(d)
    mel = np.random.default_rng(1).standard_normal((80, 31)).astype(np.float32)
    with torch.no_grad():
        ours = enc(torch.from_numpy(mel)[None])[0].numpy()
    ref = _reference_encoder(v, mel)
    assert ours.shape == (16, DIM)  # ceil(31 / 2) frames at 50 Hz
    np.testing.assert_allclose(ours, ref, atol=2e-4)


def test_malformed_files_are_value_errors(tmp_path: Path) -> None:
    d, v = _teacher_dir(tmp_path)
    data = (d / "model.bin").read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_ct2_model(bad)
    _write_ct2(bad, v, version=5)
    with pytest.raises(ValueError, match="version 5"):
        read_ct2_model(bad)
    # a byte count that does not match the declared shape
    key = b"encoder/conv1/bias\0"
    at = data.index(key) + len(key)
    broken = data[:at] + struct.pack("<BIBI", 1, DIM + 1, 4, 2 * DIM) + data[at + 10 :]
    bad.write_bytes(broken)
    with pytest.raises(ValueError, match="bytes, expected"):
        read_ct2_model(bad, "encoder/")
    missing = {k: a for k, a in v.items() if "conv2" not in k}
    _write_ct2(bad, missing)
    with pytest.raises(ValueError, match="not a Whisper encoder"):
        WhisperEncoder.from_ct2(read_ct2_model(bad, "encoder/"))


def _tone(n: int = 6400) -> np.ndarray:
    t = np.arange(n) / 16000
    return (0.1 * np.sin(2 * np.pi * 440 * t)
            + 0.05 * np.sin(2 * np.pi * (300 + 4000 * t) * t) * np.sin(2 * np.pi * 5 * t)
            + 0.02 * np.sin(2 * np.pi * 6500 * t)).astype(np.float32)


# Golden values from faster_whisper.feature_extractor.FeatureExtractor(feature_size=80)(x,
# padding=0) for x = _tone() (faster-whisper 1.2.1): per-bin means of bins 0, 9, 11, 40, 74, 79,
# per-frame means of frames 0, 1, 20, 39, and five single values.
GOLD_BIN_MEANS = {0: -0.79145, 9: 0.81510, 11: 1.08181, 40: -0.62690, 74: 0.50090, 79: -0.83798}
GOLD_FRAME_MEANS = {0: 0.15686, 1: -0.28866, 20: -0.65854, 39: -0.19543}
GOLD_POINTS = {(3, 2): -0.71626, (20, 10): -0.77156, (41, 17): 0.32620, (60, 30): -0.87957,
               (79, 39): -0.55527}


def test_log_mel_matches_whisper_golden_values() -> None:
    mel = sig_to_whisper_mel(torch.from_numpy(_tone()))[0].numpy()
    assert mel.shape == (80, 40)
    for b, want in GOLD_BIN_MEANS.items():
        assert abs(mel[b].mean() - want) < 2e-4, b
    for f, want in GOLD_FRAME_MEANS.items():
        assert abs(mel[:, f].mean() - want) < 2e-4, f
    for (b, f), want in GOLD_POINTS.items():
        assert abs(mel[b, f] - want) < 2e-4, (b, f)
    fb = slaney_mel_filters()
    assert fb.shape == (80, 201)
    assert abs(float(fb.sum(1)[0]) - 0.024863) < 1e-5 and abs(float(fb.max()) - 0.025881) < 1e-5


def test_teacher_feats_one_frame_per_20ms_and_long_inputs_chunked(tmp_path: Path) -> None:
    d, _ = _teacher_dir(tmp_path)
    enc = load_whisper_encoder(d)
    sig = torch.from_numpy(np.tile(_tone(), 3))  # 19,200 samples = 60 frames > POS positions
    with pytest.raises(ValueError, match="positions"):
        enc(sig_to_whisper_mel(sig))
    feats = sig_to_teacher_feats(enc, sig[:19_000], chunk_frames=POS)
    assert feats.shape == (60, DIM)  # ceil(19,000 / 320)
    head = sig_to_teacher_feats(enc, sig[: POS * 320], chunk_frames=POS)
    torch.testing.assert_close(feats[:POS], head)  # the first chunk is encoded on its own


def test_teacher_head_is_causal_and_loss_masks() -> None:
    torch.manual_seed(0)
    head = TeacherHead(6, 10, hidden=8, kernel=3)
    x = torch.randn(2, 12, 6)
    y = x.clone()
    y[:, 7:] += 1.0
    torch.testing.assert_close(head(x)[:, :7], head(y)[:, :7])
    assert not torch.allclose(head(x)[:, 7:], head(y)[:, 7:])
    pred, target = torch.randn(2, 12, 10), torch.randn(2, 12, 10)
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, :5] = True
    garbage = target.clone()
    garbage[:, 5:] = 1e3  # masked frames must not count
    garbage[1] = -1e3
    torch.testing.assert_close(distill_loss(pred, target, mask), distill_loss(pred, garbage, mask))
    assert float(distill_loss(target, target, mask)) < 1e-5
    assert float(distill_loss(pred, target, mask)) > 0.5


def _store(tmp_path: Path, signals: list[np.ndarray]) -> Path:
    """A targets folder whose frame f of file i is (i, f, 0, ...): alignment is readable."""
    from safetensors.torch import save_file

    chunks = []
    for i, s in enumerate(signals):
        n = math.ceil(len(s) / 320)
        c = torch.zeros(n, 4)
        c[:, 0] = i
        c[:, 1] = torch.arange(n)
        chunks.append(c)
    feats = torch.cat(chunks)
    offsets = torch.tensor([0] + [len(c) for c in chunks]).cumsum(0)
    out = tmp_path / "targets"
    out.mkdir(exist_ok=True)
    save_file({"feats": feats.half(), "offsets": offsets, "mean": torch.zeros(4),
               "std": torch.ones(4)}, str(out / "train.safetensors"))
    meta = {"files": [{"path": f"f{i}", "samples": len(s)} for i, s in enumerate(signals)]}
    (out / "train.json").write_text(json.dumps(meta))
    return out


def _teacher_trainer(tmp_path: Path, signals: list[np.ndarray], align: int = 320) -> Trainer:
    cfg = TrainConfig(name="tiny", seed=0, steps=8, batch_size=3, threads=1,
                      model=copy.deepcopy(TINY_CONFIG))
    cfg.data = DataConfig(manifest=None, crop_seconds=0.32, noise_prob=0.0)
    cfg.loss.fft_sizes, cfg.loss.n_mels = [256, 512], [32, 64]
    cfg.optim.warmup_steps = 1
    cfg.teacher.features = str(_store(tmp_path, signals))
    cfg.teacher.weight = 1.0
    cfg.teacher.head_warmup = 2
    sampler = CropSampler(cfg.data, signals, ["a"] * len(signals), align=align)
    return Trainer(cfg, tmp_path / "run", sampler=sampler, log=lambda _m: None)


def _signals() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [(0.05 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 9000, 3000)]


def test_targets_line_up_with_crops(tmp_path: Path) -> None:
    signals = _signals()
    tr = _teacher_trainer(tmp_path, signals)
    rng = np.random.default_rng(3)
    seen_short = False
    for _ in range(20):
        clean, _ = tr.sampler.batch(rng, 3)
        target, mask = tr.teacher_targets(16)
        for b, (idx, off) in enumerate(tr.sampler.last_picks):
            assert off % 320 == 0
            sig = signals[idx]
            lo, hi = max(0, off), min(len(sig), off + clean.shape[1])
            ratio = clean[b, lo - off : hi - off].numpy() / sig[lo:hi]
            np.testing.assert_allclose(ratio, ratio[0], rtol=1e-3)  # the crop is that slice
            frames = torch.nonzero(mask[b])[:, 0]
            assert torch.all(target[b, frames, 0] == idx)
            torch.testing.assert_close(target[b, frames, 1], (off // 320 + frames).float())
            if idx == 2:  # the short file lies whole in the crop, the rest is masked
                seen_short = True
                assert off <= 0 and int(mask[b].sum()) == math.ceil(len(sig) / 320)
                assert not mask[b, : -off // 320].any()
            else:
                assert bool(mask[b].all())
    assert seen_short


def test_distillation_trains_and_resumes(tmp_path: Path) -> None:
    tr = _teacher_trainer(tmp_path, _signals())
    logs = [tr.train_step() for _ in range(4)]
    assert all("distill" in lg and math.isfinite(lg["distill"]) for lg in logs)
    assert tr.teacher_head is not None
    tr.save()
    again = _teacher_trainer(tmp_path, _signals())
    assert again.try_resume()
    assert again.teacher_head is not None
    for a, b in zip(tr.teacher_head.state_dict().values(),
                    again.teacher_head.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_misaligned_or_mismatched_targets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="aligned"):
        (tmp_path / "a").mkdir()
        _teacher_trainer(tmp_path / "a", _signals(), align=1)
    signals = _signals()
    (tmp_path / "b").mkdir()
    store = _store(tmp_path / "b", signals[:2])
    cfg = TrainConfig(name="tiny", steps=2, batch_size=2, threads=1,
                      model=copy.deepcopy(TINY_CONFIG))
    cfg.data = DataConfig(manifest=None, crop_seconds=0.32)
    cfg.teacher.features, cfg.teacher.weight = str(store), 1.0
    sampler = CropSampler(cfg.data, signals, ["a"] * 3, align=320)
    with pytest.raises(ValueError, match="do not match"):
        Trainer(cfg, tmp_path / "run", sampler=sampler, log=lambda _m: None)


def test_default_sampler_draws_are_unchanged_by_the_align_option() -> None:
    signals = _signals()
    cfg = DataConfig(manifest=None, crop_seconds=0.32)
    a = CropSampler(cfg, signals, ["a"] * 3)
    b = CropSampler(cfg, signals, ["a"] * 3, align=1)
    ca, _ = a.batch(np.random.default_rng(5), 4)
    cb, _ = b.batch(np.random.default_rng(5), 4)
    assert torch.equal(ca, cb) and a.last_picks == b.last_picks
    assert any(off % 320 for _, off in a.last_picks)  # unaligned draws, as before


def test_compute_store_writes_what_the_trainer_reads(tmp_path: Path) -> None:
    import soundfile as sf

    d, _ = _teacher_dir(tmp_path)
    audio = tmp_path / "audio"
    audio.mkdir()
    rows = ["path\tsplit\tcorpus"]
    for i, n in enumerate((4000, 7000)):
        sf.write(str(audio / f"x{i}.wav"), np.tile(_tone(), 2)[:n], 16000)
        rows.append(f"audio/x{i}.wav\ttrain\tsynth-a")
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("\n".join(rows) + "\n")
    compute_store(d, tmp_path / "out", "train", str(manifest), log=lambda _m: None)
    store = load_store(tmp_path / "out", "train")
    assert [f["samples"] for f in store.meta["files"]] == [4000, 7000]
    assert store.file_frames(0).shape == (13, DIM) and store.file_frames(1).shape == (22, DIM)
    assert store.mean.shape == (DIM,) and bool((store.std > 0).all())
    (tmp_path / "out" / "train.json").write_text(json.dumps({"files": []}))
    with pytest.raises(ValueError, match="do not agree"):
        load_store(tmp_path / "out", "train")
