"""Whisper encoder as a training-only teacher, read from a CTranslate2 ``model.bin`` (our code).

The teacher is non-causal and never ships: it only gives per-frame regression targets at 50 Hz
(Whisper's encoder rate equals our token rate). Three pieces:

- ``read_ct2_model(path)``: the variables of a CTranslate2 model file, binary format version 6
  (little-endian ``uint32`` version, ``uint16``-length-prefixed spec name, ``uint32`` revision
  and variable count; per variable a length-prefixed name, ``uint8`` rank, ``uint32`` dims,
  ``uint8`` dtype code, ``uint32`` byte count and the raw data; then aliases).
- ``sig_to_whisper_mel(sig)``: Whisper's log-mel front end, (N,) or (B, N) samples at 16 kHz ->
  (B, 80, N // 160) log-mel frames at 100 Hz, scaled as Whisper does.
- ``WhisperEncoder``: 2 convolutions (the second with stride 2) + pre-norm transformer layers
  with absolute sinusoidal-table positions (30 s) + final LayerNorm; mel (B, 80, 2T) ->
  (B, T, D) at 50 Hz.

Nothing here imports ctranslate2. Every field of the file is checked; a malformed file raises
``ValueError`` naming the problem.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
SAMPLES_PER_FRAME = 2 * HOP  # one encoder frame = 20 ms
MAX_FRAMES = 1500  # Whisper's position table: 30 s

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_MAX_RANK = 8


class _Reader:
    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.pos = 0
        self.where = where

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ValueError(f"{self.where}: truncated at byte {self.pos} (wanted {n} more)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (n,) = self.unpack("H")
        raw = self.take(n)
        try:
            return raw.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{self.where}: a name at byte {self.pos - n} is not UTF-8") from exc


def read_ct2_model(path: str | Path, prefix: str = "") -> dict[str, Tensor]:
    """Variables of a CTranslate2 ``model.bin`` (format version 6) whose names start with
    ``prefix``, as float32 tensors (integer scalars keep an integer dtype).

    Raises ValueError for a wrong version, an unknown dtype (bfloat16 included), a byte count
    that does not match the shape, or a truncated file.
    """
    path = Path(path)
    r = _Reader(path.read_bytes(), str(path))
    (version,) = r.unpack("I")
    if version != 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, expected 6")
    r.string()  # spec name, e.g. WhisperSpec
    r.unpack("I")  # revision
    (count,) = r.unpack("I")
    out: dict[str, Tensor] = {}
    for _ in range(count):
        name = r.string()
        (rank,) = r.unpack("B")
        if rank > _MAX_RANK:
            raise ValueError(f"{path}: variable {name!r} has rank {rank}")
        dims = r.unpack("I" * rank) if rank else ()
        (code,) = r.unpack("B")
        (nbytes,) = r.unpack("I")
        raw = r.take(nbytes)
        if not name.startswith(prefix):
            continue
        if code not in _DTYPES:
            raise ValueError(f"{path}: variable {name!r} has unsupported dtype code {code}")
        dtype = np.dtype(_DTYPES[code])
        expect = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
        if expect != nbytes:
            raise ValueError(f"{path}: variable {name!r} of shape {dims} has {nbytes} bytes, "
                             f"expected {expect}")
        arr = np.frombuffer(raw, dtype=dtype).reshape(dims)
        if dtype.kind == "f":
            out[name] = torch.from_numpy(arr.astype(np.float32))
        else:
            out[name] = torch.from_numpy(arr.astype(np.int64))
    return out


# -- log-mel front end ---------------------------------------------------------------------------
def slaney_mel_filters(n_fft: int = N_FFT, n_mels: int = N_MELS,
                       sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Slaney-scale, Slaney-normalised triangular filters (n_mels, n_fft // 2 + 1), 0..sr/2:
    the filterbank Whisper's features use (linear mel below 1 kHz, logarithmic above)."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz)
                        / logstep, f / f_sp)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)),
                        f_sp * m)

    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_edges = np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sample_rate / 2.0)),
                            n_mels + 2)
    hz = mel_to_hz(mel_edges)
    fdiff = np.diff(hz)
    ramps = hz[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (hz[2 : n_mels + 2] - hz[:n_mels]))[:, None]
    return torch.from_numpy(weights.astype(np.float32))


def sig_to_whisper_mel(sig: Tensor, filters: Tensor | None = None) -> Tensor:
    """Whisper log-mel features of sig (N,) or (B, N) float at 16 kHz -> (B, 80, N // 160).

    Centred 400-sample periodic-Hann STFT every 160 samples (reflect padding), power spectrum,
    the last frame dropped (as Whisper does), Slaney mel filters, ``log10(max(x, 1e-10))``
    clamped to 8 below each item's maximum, then ``(x + 4) / 4``. Frame k is centred on sample
    160 k.
    """
    if sig.dim() == 1:
        sig = sig[None]
    fb = slaney_mel_filters() if filters is None else filters
    window = torch.hann_window(N_FFT, periodic=True, dtype=sig.dtype, device=sig.device)
    spec = torch.stft(sig, N_FFT, HOP, window=window, center=True, pad_mode="reflect",
                      return_complex=True)
    power = spec.abs().pow(2)[..., :-1]  # (B, 201, N // 160)
    mel = fb.to(sig.dtype) @ power
    log_spec = torch.clamp(mel, min=1e-10).log10()
    peak = log_spec.amax(dim=(1, 2), keepdim=True)
    log_spec = torch.maximum(log_spec, peak - 8.0)
    return (log_spec + 4.0) / 4.0


# -- encoder -------------------------------------------------------------------------------------
class _Layer(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ffn_norm = nn.LayerNorm(dim)
        self.ffn_in = nn.Linear(dim, ffn_dim)
        self.ffn_out = nn.Linear(ffn_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).chunk(3, dim=-1)
        q, k, v = (z.reshape(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = nn.functional.scaled_dot_product_attention(q, k, v)  # full (non-causal) attention
        x = x + self.out(att.transpose(1, 2).reshape(b, t, d))
        h = nn.functional.gelu(self.ffn_in(self.ffn_norm(x)))  # exact GELU
        return x + self.ffn_out(h)


class WhisperEncoder(nn.Module):
    """Whisper's audio encoder. ``forward(mel)``: (B, n_mels, M) -> (B, ceil(M / 2), dim).

    ``layers`` returned by ``forward_layers`` are the outputs of every transformer layer (before
    the final LayerNorm) and, last, the normed output, which is what CTranslate2 returns.
    """

    def __init__(self, n_mels: int = N_MELS, dim: int = 384, ffn_dim: int = 1536,
                 num_layers: int = 4, heads: int = 6, max_frames: int = MAX_FRAMES) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, dim, 3, padding=1)
        self.conv2 = nn.Conv1d(dim, dim, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(max_frames, dim))
        self.layers = nn.ModuleList(_Layer(dim, ffn_dim, heads) for _ in range(num_layers))
        self.norm = nn.LayerNorm(dim)

    @property
    def dim(self) -> int:
        return int(self.norm.weight.shape[0])

    def forward_layers(self, mel: Tensor) -> list[Tensor]:
        x = nn.functional.gelu(self.conv1(mel))
        x = nn.functional.gelu(self.conv2(x)).transpose(1, 2)  # (B, T, D)
        positions: Tensor = self.positions  # type: ignore[assignment]
        if x.shape[1] > positions.shape[0]:
            raise ValueError(f"input of {x.shape[1]} frames exceeds the teacher's "
                             f"{positions.shape[0]} positions")
        x = x + positions[: x.shape[1]]
        outs = []
        for layer in self.layers:
            x = layer(x)
            outs.append(x)
        outs.append(self.norm(x))
        return outs

    def forward(self, mel: Tensor) -> Tensor:
        return self.forward_layers(mel)[-1]

    @classmethod
    def from_ct2(cls, variables: dict[str, Tensor]) -> WhisperEncoder:
        """Build from ``read_ct2_model(path, "encoder/")``; shapes give the sizes."""
        v = variables
        try:
            conv1 = v["encoder/conv1/weight"]
            dim, n_mels, _ = conv1.shape
            num_layers = 0
            while f"encoder/layer_{num_layers}/ffn/linear_0/weight" in v:
                num_layers += 1
            ffn_dim = v["encoder/layer_0/ffn/linear_0/weight"].shape[0]
            heads = int(v["encoder/num_heads"]) if "encoder/num_heads" in v else max(1, dim // 64)
            pos = v["encoder/position_encodings/encodings"]
        except KeyError as exc:
            raise ValueError(f"not a Whisper encoder: missing variable {exc}") from exc
        if num_layers == 0 or dim % heads:
            raise ValueError(f"not a Whisper encoder: {num_layers} layers, dim {dim}, "
                             f"{heads} heads")
        enc = cls(n_mels, dim, ffn_dim, num_layers, heads, pos.shape[0])
        try:
            sd: dict[str, Tensor] = {
                "conv1.weight": conv1, "conv1.bias": v["encoder/conv1/bias"],
                "conv2.weight": v["encoder/conv2/weight"], "conv2.bias": v["encoder/conv2/bias"],
                "positions": pos,
                "norm.weight": v["encoder/layer_norm/gamma"],
                "norm.bias": v["encoder/layer_norm/beta"],
            }
            names = {"attn_norm": "self_attention/layer_norm", "qkv": "self_attention/linear_0",
                     "out": "self_attention/linear_1", "ffn_norm": "ffn/layer_norm",
                     "ffn_in": "ffn/linear_0", "ffn_out": "ffn/linear_1"}
            for i in range(num_layers):
                for ours, theirs in names.items():
                    src = f"encoder/layer_{i}/{theirs}"
                    if ours.endswith("norm"):
                        sd[f"layers.{i}.{ours}.weight"] = v[f"{src}/gamma"]
                        sd[f"layers.{i}.{ours}.bias"] = v[f"{src}/beta"]
                    else:
                        sd[f"layers.{i}.{ours}.weight"] = v[f"{src}/weight"]
                        sd[f"layers.{i}.{ours}.bias"] = v[f"{src}/bias"]
        except KeyError as exc:
            raise ValueError(f"not a Whisper encoder: missing variable {exc}") from exc
        own = enc.state_dict()
        for k, t in sd.items():
            if own[k].shape != t.shape:
                raise ValueError(f"not a Whisper encoder: {k} has shape {tuple(t.shape)}, "
                                 f"expected {tuple(own[k].shape)}")
        enc.load_state_dict(sd)
        return enc.eval()


def load_whisper_encoder(model_dir: str | Path) -> WhisperEncoder:
    """The encoder of a CTranslate2 Whisper model folder (or its ``model.bin``)."""
    path = Path(model_dir).expanduser()
    if path.is_dir():
        path = path / "model.bin"
    return WhisperEncoder.from_ct2(read_ct2_model(path, "encoder/"))


@torch.no_grad()
def sig_to_teacher_feats(encoder: WhisperEncoder, sig: Tensor, layer: int = -1,
                         chunk_frames: int = MAX_FRAMES) -> Tensor:
    """Teacher features of one signal sig (N,) at 16 kHz -> (ceil(N / 320), D) at 50 Hz.

    The signal is zero-padded to whole 20 ms frames and cut into chunks of at most
    ``chunk_frames`` frames (30 s), each encoded on its own (Whisper's positions cover 30 s).
    Frame t is centred on sample 320 t. ``layer`` indexes ``forward_layers`` (-1: the normed
    last layer).
    """
    n = sig.shape[-1]
    frames = max(1, math.ceil(n / SAMPLES_PER_FRAME))
    sig = nn.functional.pad(sig.float(), (0, frames * SAMPLES_PER_FRAME - n))
    outs = []
    step = chunk_frames * SAMPLES_PER_FRAME
    for start in range(0, sig.shape[-1], step):
        piece = sig[start : start + step]
        mel = sig_to_whisper_mel(piece)
        outs.append(encoder.forward_layers(mel)[layer][0])
    return torch.cat(outs)[:frames]
