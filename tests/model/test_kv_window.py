"""The encoder's key/value windows: appending in place changes no result and no earlier state."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from focalcli.model import load_codec
from focalcli.model.testing import save_tiny_model
from focalcli.model.wavlm import KVWindow, WavLMState


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    return load_codec(str(save_tiny_model(tmp_path_factory.mktemp("m"), seed=3))).encoder


def chunks(encoder: torch.nn.Module, n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sig = 0.1 * torch.randn(1, encoder.chunk_size * n, generator=g)
    return list(sig.split(encoder.chunk_size, dim=1))


@torch.inference_mode()
def test_windows_equal_concatenated_keys_exactly(encoder: torch.nn.Module) -> None:
    """Through several buffer refills (more chunks than the spare room holds), features equal
    bitwise those of a state rebuilt from plain keys and values at every call (the
    concatenating path)."""
    pieces = chunks(encoder, 3 + 2 * 256 // encoder.chunk_frames)
    a = b = None
    for piece in pieces:
        fa, a = encoder(piece, a)
        if b is not None:  # the same state without its windows: keys and values only
            b = WavLMState(b.conv_ctx, [k.clone() for k in b.keys],
                           [v.clone() for v in b.values])
        fb, b = encoder(piece, b)
        assert torch.equal(fa, fb)
    assert a is not None and a.windows is not None
    keep = encoder.window_size - encoder.chunk_frames
    assert all(k.shape[2] == keep for k in a.keys)


@torch.inference_mode()
def test_resuming_an_old_state_twice_changes_neither_it_nor_its_successor(
        encoder: torch.nn.Module) -> None:
    pieces = chunks(encoder, 8)
    state = None
    for piece in pieces[:5]:
        _, state = encoder(piece, state)
    assert state is not None
    saved = [k.clone() for k in state.keys] + [v.clone() for v in state.values]
    first, next_state = encoder(pieces[5], state)
    assert next_state is not None
    after_first = [k.clone() for k in next_state.keys]
    second, other = encoder(pieces[6], state)  # a different continuation of the same state
    assert all(torch.equal(x, y) for x, y in zip(state.keys + state.values, saved, strict=True))
    assert all(torch.equal(x, y) for x, y in zip(next_state.keys, after_first, strict=True))
    again, _ = encoder(pieces[5], state)
    assert torch.equal(again, first)
    assert other is not None


def test_a_window_extends_in_place_only_at_its_tip() -> None:
    k = torch.arange(2 * 3 * 4 * 2, dtype=torch.float32).reshape(2, 3, 4, 2)
    with torch.inference_mode():
        w0 = KVWindow.of(k, k + 1)
        new = torch.ones(2, 3, 1, 2)
        all_k, all_v, w1 = w0.extended(new, new, keep=4)  # no room: fresh buffers
        assert all_k.shape == (2, 3, 5, 2) and torch.equal(all_k[:, :, :4], k)
        assert torch.equal(all_v[:, :, :4], k + 1)
        _, _, w2 = w1.extended(new * 2, new * 2, keep=4)  # the tip: written in place
        assert w2.buffers[0] is w1.buffers[0]
        _, _, w3 = w1.extended(new * 3, new * 3, keep=4)  # not the tip any more: copied
        assert w3.buffers[0] is not w1.buffers[0]
        assert torch.equal(w2.view()[0][:, :, -1:], new * 2)
        assert torch.equal(w3.view()[0][:, :, -1:], new * 3)
        assert w2.view()[0].shape[2] == 4
    # with gradients on, a window is never written in place
    _, _, w4 = w2.extended(new, new, keep=4)
    assert w4.buffers[0] is not w2.buffers[0]


def test_encoder_trains_through_windows(encoder: torch.nn.Module, tmp_path: Path) -> None:
    """Gradients flow through a two-call stream (no in-place write breaks autograd)."""
    pieces = chunks(encoder, 2)
    x = pieces[0].clone().requires_grad_(True)
    _, state = encoder(x, None)
    out, _ = encoder(pieces[1], state)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
