"""Compute precision of a loaded codec: fp32 (exact, the parity path), bf16, mixed or int8.

A streaming chunk of the 249 M-parameter causal models is a 4-row product with every weight,
so its time is the time to read the weights: 4 bytes each in fp32, 2 in bf16, 1 in int8.

* ``fp32``: the model as built; matches the reference within float rounding.
* ``bf16``: the weights of every large ``nn.Linear`` and convolution are stored as bfloat16 and
  multiplied with bfloat16 activations (oneDNN, AMX / AVX512-BF16 on these CPUs); their
  outputs return to float32 before the (float32) bias is added, so norms, attention scores,
  activations and state stay float32. (A bias rounded to bfloat16 cost the bundled model's
  decoder 27 dB of SNR against float32.)
* ``mixed``: ``bf16`` in the encoder and compressor (which decide the tokens), ``int8`` in the
  decompressor and decoder (which make the audio): tokens as close to fp32 as ``bf16`` gives,
  less to read per chunk.
* ``int8``: large ``nn.Linear`` weights are int8 with one bfloat16 scale per output row
  (symmetric, ``round(w / s)``, ``s = max|w_row| / 127``), multiplied by bfloat16 activations
  (weight-only: activations are never quantised); convolutions as in ``bf16``.

Small layers stay float32 (``MIN_NUMEL``), and always the compressor's output projection, which
decides every token bit, and the decompressor's input projection (``KEEP_FP32``). Conversion
replaces modules in place and frees each float32 weight as it goes; :func:`load_converted`
builds a model straight from a safetensors file, one tensor at a time and without a memory
map, so no float32 copy of the large weights is ever held and peak memory stays near the
converted size.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from focalcli.model.registry import PRECISIONS

#: weights below this many values stay float32 (their reading time is negligible)
MIN_NUMEL = 65536
#: layers that always stay float32: the projection whose signs are the token bits, and the
#: first layer after the codes
KEEP_FP32 = ("compressor.out_proj", "decompressor.in_proj")


class PrecisionError(ValueError):
    """An unknown precision name, or one this machine's torch cannot run."""


def check_precision(name: str) -> str:
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}: choose one of {', '.join(PRECISIONS)}")
    if name in ("int8", "mixed") and not hasattr(torch, "_weight_int8pack_mm"):
        raise PrecisionError(f"precision {name} needs torch._weight_int8pack_mm (torch >= 2.3)")
    return name


@functools.cache
def _can_prepack() -> bool:
    """Whether oneDNN's prepacked bfloat16 products run here: the ops exist and this CPU has
    their bf16 path (AVX-512 BF16 or AVX-NE-CONVERT; on a plain AVX2 machine oneDNN refuses the
    reorder, and the layers keep plain bfloat16 weights instead)."""
    if not (torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(
            torch.ones(16, 16, dtype=torch.bfloat16), PREPACK_ROWS)
        torch.ops.mkldnn._linear_pointwise(torch.ones(PREPACK_ROWS, 16, dtype=torch.bfloat16),
                                           packed, None, "none", [], "")
    except RuntimeError:
        return False
    return True


#: rows a prepacked weight's layout is chosen for (a streaming chunk: 4 frames)
PREPACK_ROWS = 4


class Bf16Linear(nn.Module):
    """``nn.Linear`` with bfloat16 weights: float32 (..., in) -> float32 (..., out).

    Where oneDNN is available the weight is held only in its prepacked (blocked) layout
    (``torch.ops.mkldnn._reorder_linear_weight``), which its 4-row products read 1.4-1.8x
    faster than a plain bfloat16 matrix (4096 x 1024: 0.43 against 0.78 ms), with bitwise the
    same result. ``weight`` and the state dict still give the plain (out, in) matrix.
    """

    bias: Tensor | None

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        plain = weight.detach().to(torch.bfloat16).contiguous()
        self._packed: Tensor | None = None
        self._plain: Tensor | None = plain
        if _can_prepack():
            self._packed = torch.ops.mkldnn._reorder_linear_weight(plain, PREPACK_ROWS)
            self._plain = None
        self.register_buffer("bias", None if bias is None else bias.detach().float())

    @property
    def weight(self) -> Tensor:
        """(out, in) bfloat16 (a dense copy when prepacked)."""
        if self._plain is not None:
            return self._plain
        assert self._packed is not None
        return self._packed.to_dense()

    def stored_bytes(self) -> int:
        return self.out_features * self.in_features * 2

    def __getstate__(self) -> dict[str, Any]:
        """Copy and pickle the plain weight (an opaque prepacked tensor has no storage)."""
        state = super().__getstate__()
        state = {**state, "_plain": self.weight, "_packed": None}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if _can_prepack() and self._plain is not None:
            self._packed = torch.ops.mkldnn._reorder_linear_weight(self._plain, PREPACK_ROWS)
            self._plain = None

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str,
                            keep_vars: bool) -> None:
        destination[prefix + "weight"] = self.weight
        super()._save_to_state_dict(destination, prefix, keep_vars)

    def forward(self, x: Tensor) -> Tensor:
        xb = x.to(torch.bfloat16)
        if self._packed is not None:
            y = torch.ops.mkldnn._linear_pointwise(xb, self._packed, None, "none", [], "")
        else:
            assert self._plain is not None
            y = F.linear(xb, self._plain)
        y = y.to(x.dtype)
        return y if self.bias is None else y + self.bias


class Int8Linear(nn.Module):
    """``nn.Linear`` with int8 weights and a bfloat16 scale per output row (weight-only):
    float32 (..., in) -> float32 (..., out)."""

    weight: Tensor
    scale: Tensor
    bias: Tensor | None

    def __init__(self, weight: Tensor, bias: Tensor | None) -> None:
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        w = weight.detach().float()
        scale = (w.abs().amax(dim=1) / 127).clamp(min=1e-12)
        q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight", q.contiguous())
        self.register_buffer("scale", scale.to(torch.bfloat16))
        self.register_buffer("bias", None if bias is None else bias.detach().float())

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.in_features).to(torch.bfloat16).contiguous()
        y = torch._weight_int8pack_mm(rows, self.weight, self.scale).to(x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)


#: a streaming call's convolution (few output frames) is done as one matrix product over its
#: unfolded input, which oneDNN runs far faster than the grouped or long-kernel convolution
#: (the encoder's 128-tap positional convolution: 75 ms as a bf16 convolution, a few ms as a
#: product); above this many unfolded values (offline calls over long input) F.conv1d is used,
#: and always for depthwise convolutions (one channel per group), which it runs well
UNFOLD_LIMIT = 1 << 22


class Bf16Conv(nn.Module):
    """``nn.Conv1d`` / ``nn.ConvTranspose1d`` with bfloat16 weights; float32 (B, C, L) in and out.

    Keeps ``kernel_size``, ``stride``, ``padding``, ``dilation`` and ``groups`` of the original.
    Short inputs go through matrix products (see ``UNFOLD_LIMIT``); a transposed convolution
    whose kernel equals its stride (the decompressor's upscaling) always does.
    """

    weight: Tensor
    bias: Tensor | None

    def __init__(self, conv: nn.Conv1d | nn.ConvTranspose1d) -> None:
        super().__init__()
        self.transposed = isinstance(conv, nn.ConvTranspose1d)
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation, self.groups = conv.padding, conv.dilation, conv.groups
        self.output_padding = conv.output_padding
        self.register_buffer("weight", conv.weight.detach().to(torch.bfloat16).contiguous())
        bias = conv.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        # an ungrouped convolution's unfolded product is a linear layer: prepacked, it runs
        # 3-10x faster than the batched product (the encoder's front end, 8-128 rows); the
        # plain weight stays for long inputs (F.conv1d)
        self._packed: Tensor | None = None
        if not self.transposed and self.groups == 1 and _can_prepack():
            rows = self.weight.reshape(self.weight.shape[0], -1)  # (Cout, Cin * k)
            self._packed = torch.ops.mkldnn._reorder_linear_weight(rows, PREPACK_ROWS)

    def stored_bytes(self) -> int:
        """Bytes of the prepacked copy (the plain weight is a buffer)."""
        return 0 if self._packed is None else self.weight.numel() * 2

    def __getstate__(self) -> dict[str, Any]:
        """Copies and pickles leave the prepacked copy out (it is rebuilt from ``weight``)."""
        return {**super().__getstate__(), "_packed": None, "_repack": self._packed is not None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        repack = state.pop("_repack", False)
        super().__setstate__(state)
        if repack and _can_prepack():
            rows = self.weight.reshape(self.weight.shape[0], -1)
            self._packed = torch.ops.mkldnn._reorder_linear_weight(rows, PREPACK_ROWS)

    def forward(self, x: Tensor) -> Tensor:
        xb = x.to(torch.bfloat16)
        k, stride = self.kernel_size[0], self.stride[0]
        if self.transposed:
            plain = (k == stride and self.groups == 1 and self.dilation[0] == 1
                     and tuple(self.padding) == (0,) and self.output_padding[0] == 0)
            if plain:  # no overlap: one product, (B*L, Cin) @ (Cin, Cout*k)
                B, C, L = xb.shape
                rows = xb.transpose(1, 2).reshape(B * L, C)
                y = rows @ self.weight.reshape(C, -1)
                y = y.reshape(B, L, -1, k).permute(0, 2, 1, 3).reshape(B, -1, L * k)
            else:
                y = F.conv_transpose1d(xb, self.weight, None, self.stride,
                                       self.padding,  # type: ignore[arg-type]
                                       self.output_padding, self.groups, self.dilation)
        else:
            y = self._conv(xb, k, stride)
        y = y.to(x.dtype)
        return y if self.bias is None else y + self.bias[:, None]

    def _conv(self, xb: Tensor, k: int, stride: int) -> Tensor:
        dilation = self.dilation[0]
        if isinstance(self.padding, str):
            return F.conv1d(xb, self.weight, None, self.stride, self.padding,
                            self.dilation, self.groups)
        if self.padding[0]:
            xb = F.pad(xb, (self.padding[0], self.padding[0]))
        B, C, L = xb.shape
        span = dilation * (k - 1) + 1
        frames = (L - span) // stride + 1
        if frames < 1 or B * frames * C * k > UNFOLD_LIMIT or self.groups == C:  # depthwise
            return F.conv1d(xb, self.weight, None, self.stride, 0, self.dilation, self.groups)
        G = self.groups
        windows = xb.unfold(2, span, stride)[..., ::dilation]  # (B, C, frames, k)
        if self._packed is not None:  # G == 1
            rows = windows.permute(0, 2, 1, 3).reshape(B * frames, C * k)
            y = torch.ops.mkldnn._linear_pointwise(rows, self._packed, None, "none", [], "")
            return y.reshape(B, frames, -1).transpose(1, 2)
        cols = (windows.reshape(B, G, C // G, frames, k).permute(1, 0, 3, 2, 4)
                .reshape(G, B * frames, C // G * k))
        w = self.weight.reshape(G, -1, C // G * k)  # (G, Cout/G, Cin/G * k), a view
        y = torch.bmm(cols, w.transpose(1, 2))  # (G, B * frames, Cout/G)
        return y.reshape(G, B, frames, -1).permute(1, 0, 3, 2).reshape(B, -1, frames)


class PointwiseConv(nn.Module):
    """A kernel-1 ``nn.Conv1d`` (no groups, stride 1, no padding) as a reduced-precision linear
    layer over the channels: float32 (B, Cin, L) -> float32 (B, Cout, L)."""

    def __init__(self, conv: nn.Conv1d, precision: str) -> None:
        super().__init__()
        weight = conv.weight.detach()[:, :, 0]
        bias = None if conv.bias is None else conv.bias.detach()
        cls = Int8Linear if precision == "int8" else Bf16Linear
        self.linear = cls(weight, bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x.transpose(1, 2)).transpose(1, 2)


def _is_depthwise(module: nn.Module) -> bool:
    """One input channel per group: F.conv1d runs these at least as fast in float32 (the
    compressor's 512-tap global-context convolution: 0.26 ms in float32, 0.45 ms in bfloat16),
    and their weights are a small part of what a chunk reads."""
    return (type(module) is nn.Conv1d and isinstance(module, nn.Conv1d)
            and module.groups == module.in_channels)


def _is_pointwise(module: nn.Module) -> bool:
    return (type(module) is nn.Conv1d and isinstance(module, nn.Conv1d)
            and module.kernel_size == (1,) and module.stride == (1,) and module.groups == 1
            and module.dilation == (1,) and module.padding in ((0,), "valid"))


#: at most this many rows (output frames times batch) go through the int8 product; above it
#: (offline calls over long input) ``_weight_int8pack_mm`` is slower than bfloat16, so the
#: weights are widened to bfloat16 for that call instead
INT8_MAX_ROWS = 8


class Int8Conv(nn.Module):
    """An ungrouped ``nn.Conv1d`` with int8 weights and a bfloat16 scale per output channel
    (weight-only, as ``Int8Linear``): float32 (B, Cin, L) -> float32 (B, Cout, L').

    A streaming call's few output frames are one int8 product over the unfolded input
    (B * frames rows of Cin * k values); longer calls widen the weights to bfloat16 and use
    ``F.conv1d``.
    """

    weight: Tensor
    scale: Tensor
    bias: Tensor | None

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        self.kernel_size, self.stride = conv.kernel_size, conv.stride
        self.padding, self.dilation = conv.padding, conv.dilation
        self.out_channels = conv.out_channels
        w = conv.weight.detach().float().reshape(conv.out_channels, -1)  # (Cout, Cin * k)
        scale = (w.abs().amax(dim=1) / 127).clamp(min=1e-12)
        q = torch.round(w / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight", q.contiguous())
        self.register_buffer("scale", scale.to(torch.bfloat16))
        bias = conv.bias
        self.register_buffer("bias", None if bias is None else bias.detach().float())

    def forward(self, x: Tensor) -> Tensor:
        xb = x.to(torch.bfloat16)
        if isinstance(self.padding, str):
            raise ValueError("Int8Conv takes numeric padding only")
        if self.padding[0]:
            xb = F.pad(xb, (self.padding[0], self.padding[0]))
        k, stride, dilation = self.kernel_size[0], self.stride[0], self.dilation[0]
        B, C, L = xb.shape
        span = dilation * (k - 1) + 1
        frames = (L - span) // stride + 1
        if frames < 1 or B * frames > INT8_MAX_ROWS:
            w = (self.weight.to(torch.bfloat16) * self.scale[:, None]).reshape(
                self.out_channels, C, k)
            y = F.conv1d(xb, w, None, self.stride, 0, self.dilation)
        else:
            windows = xb.unfold(2, span, stride)[..., ::dilation]  # (B, C, frames, k)
            rows = windows.permute(0, 2, 1, 3).reshape(B * frames, C * k).contiguous()
            y = torch._weight_int8pack_mm(rows, self.weight, self.scale)
            y = y.reshape(B, frames, -1).transpose(1, 2)
        y = y.to(x.dtype)
        return y if self.bias is None else y + self.bias[:, None]


def _converted(module: nn.Module, precision: str) -> nn.Module | None:
    """The reduced-precision replacement of one leaf module, or None to keep it."""
    weight = getattr(module, "weight", None)
    if not isinstance(weight, Tensor) or weight.numel() < MIN_NUMEL or _is_depthwise(module):
        return None
    if type(module) is nn.Linear:
        cls = Int8Linear if precision == "int8" else Bf16Linear
        return cls(module.weight.detach(), None if module.bias is None else module.bias.detach())
    if _is_pointwise(module):
        return PointwiseConv(module, precision)  # type: ignore[arg-type]
    if (precision == "int8" and type(module) is nn.Conv1d and isinstance(module, nn.Conv1d)
            and module.groups == 1):
        return Int8Conv(module)
    if type(module) in (nn.Conv1d, nn.ConvTranspose1d):
        return Bf16Conv(module)  # type: ignore[arg-type]
    return None


#: ``mixed``: bfloat16 where the tokens are decided, int8 where the audio is made. (With the
#: bfloat16 weights prepacked, a 4-row bfloat16 product is about as fast as the int8 one, so the
#: encoder side gains nothing from int8 and keeps bfloat16's tokens: int8 in the encoder's
#: feed-forward layers alone cost the bundled model 1.3 % of its tokens; see docs/precision.md.)
MIXED = {"encoder": "bf16", "compressor": "bf16", "decompressor": "int8", "decoder": "int8"}


def _leaf_precision(name: str, precision: str) -> str:
    """The precision of the module at ``name`` (a dotted path) under scheme ``precision``."""
    return MIXED.get(name.split(".")[0], "bf16") if precision == "mixed" else precision


def _targets(root: nn.Module, precision: str) -> list[tuple[str, str, str]]:
    """(parent path, attribute, precision) of every module that ``precision`` replaces.

    Names only, so that converting one does not keep the float32 originals of the others alive.
    """
    out = []
    for path, parent in root.named_modules():
        for attr, child in parent.named_children():
            weight = getattr(child, "weight", None)
            name = f"{path}.{attr}" if path else attr
            if name in KEEP_FP32:
                continue
            leaf = _leaf_precision(name, precision)
            if (leaf != "fp32" and type(child) in (nn.Linear, nn.Conv1d, nn.ConvTranspose1d)
                    and isinstance(weight, Tensor) and weight.numel() >= MIN_NUMEL
                    and not _is_depthwise(child)):
                out.append((path, attr, leaf))
    return out


@torch.no_grad()
def apply_precision(codec: nn.Module, precision: str) -> nn.Module:
    """Convert ``codec`` in place (each float32 weight is freed once replaced); returns it.

    ``fp32`` leaves it untouched. Sets ``codec.precision``.
    """
    check_precision(precision)
    for path, attr, leaf in _targets(codec, precision):
        parent = codec.get_submodule(path)
        new = _converted(getattr(parent, attr), leaf)
        if new is not None:
            setattr(parent, attr, new)
    setattr(codec, "precision", precision)  # noqa: B010 - nn.Module attribute
    return codec


@contextlib.contextmanager
def skipped_init() -> Iterator[None]:
    """Build modules without initialising their large weights (the memory is then untouched,
    so it costs no RSS until the file's values are written into it)."""
    classes = (nn.Linear, nn.Conv1d, nn.ConvTranspose1d, nn.Embedding)
    saved = [(cls, cls.reset_parameters) for cls in classes]
    try:
        for cls, _ in saved:
            cls.reset_parameters = lambda self: None  # type: ignore[method-assign]
        yield
    finally:
        for cls, method in saved:
            cls.reset_parameters = method  # type: ignore[method-assign]


@torch.no_grad()
def load_converted(codec: nn.Module, weights: Path, precision: str) -> None:
    """Fill ``codec`` (built under :func:`skipped_init`) from a safetensors file at ``precision``.

    Converted modules are built straight from the file's tensors; everything else is copied in.
    Strict: raises ``KeyError`` naming the first missing or unexpected key and ``ValueError``
    for a shape that does not fit.
    """
    check_precision(precision)
    f = FileTensors(weights)
    keys = set(f)
    expected = set(codec.state_dict())
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(keys - expected)
        raise KeyError(f"missing key {missing[0]}" if missing else f"unexpected key {extra[0]}")

    def tensor(key: str, like: Tensor) -> Tensor:
        if f.shape(key) != tuple(like.shape):
            raise ValueError(f"{key}: shape {list(f.shape(key))} in the file, "
                             f"{list(like.shape)} in the model")
        return f[key].to(like.dtype)

    done: set[str] = set()
    for path, attr, leaf in _targets(codec, precision):
        parent = codec.get_submodule(path)
        child = getattr(parent, attr)
        prefix = f"{path}.{attr}" if path else attr
        for pname, p in child.named_parameters(recurse=False):
            p.data = tensor(f"{prefix}.{pname}", p)
            done.add(f"{prefix}.{pname}")
        new = _converted(child, leaf)
        del child
        if new is not None:
            setattr(parent, attr, new)
    # parameters and buffers by state-dict key (not codec.state_dict(), which would make a
    # dense copy of every prepacked weight)
    state = {**dict(codec.named_parameters()), **dict(codec.named_buffers())}
    for key in sorted(keys - done):
        target = state[key]
        target.data.copy_(tensor(key, target))
    setattr(codec, "precision", precision)  # noqa: B010 - nn.Module attribute


_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "I16": torch.int16,
           "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


class FileTensors(Mapping[str, Tensor]):
    """The tensors of a safetensors file, each read with ``read()`` when asked for.

    No memory map: mapped file pages count as the process's resident memory, so mapping a 1 GB
    file would cost 1 GB of RSS; here only the tensor being converted is ever in memory.
    Layout: an 8-byte little-endian header size, a JSON header ``{name: {dtype, shape,
    data_offsets: [begin, end]}}`` (offsets from the end of the header), then the data.
    Every entry is checked against the file size before anything is allocated.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("not a safetensors file (shorter than 8 bytes)")
            length = int.from_bytes(head, "little")
            if length > min(size - 8, 100 << 20):
                raise ValueError(f"header of {length} bytes does not fit the file")
            try:
                header = json.loads(fh.read(length))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"header is not JSON: {e}") from None
        self._start = 8 + length
        self._entries: dict[str, tuple[torch.dtype, tuple[int, ...], int, int]] = {}
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        for key, entry in header.items():
            if key == "__metadata__":
                continue
            try:
                dtype = _DTYPES[entry["dtype"]]
                shape = tuple(int(d) for d in entry["shape"])
                begin, end = (int(x) for x in entry["data_offsets"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"{key}: bad header entry") from None
            if any(d < 0 for d in shape):
                raise ValueError(f"{key}: negative dimension")
            nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
            if not 0 <= begin <= end <= size - self._start or end - begin != nbytes:
                raise ValueError(f"{key}: data offsets do not fit its shape or the file")
            self._entries[key] = (dtype, shape, begin, end)

    def __getitem__(self, key: str) -> Tensor:
        dtype, shape, begin, end = self._entries[key]
        out = torch.empty(shape, dtype=dtype)
        if end > begin:
            with open(self.path, "rb") as fh:
                fh.seek(self._start + begin)
                view: Any = out.view(-1).view(torch.uint8).numpy()
                if fh.readinto(view) != end - begin:
                    raise ValueError(f"{key}: file ends inside its data")
        return out

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._entries[key][1]


def weight_bytes(codec: nn.Module) -> int:
    """Bytes held by the parameters and buffers of ``codec``, and by prepacked weights."""
    tensors = [*codec.parameters(), *codec.buffers()]
    packed = sum(m.stored_bytes() for m in codec.modules()
                 if isinstance(m, (Bf16Linear, Bf16Conv)))
    return sum(t.numel() * t.element_size() for t in tensors) + packed


__all__ = ["MIN_NUMEL", "PRECISIONS", "FileTensors", "PrecisionError", "apply_precision",
           "check_precision", "load_converted", "skipped_init", "weight_bytes"]

