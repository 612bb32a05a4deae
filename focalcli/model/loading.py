"""Find, read and build a model: bundled name, local folder, config.json path or hub id.

Weights are read from safetensors; a ``.pt`` state dict is accepted only through
``torch.load(weights_only=True)``, so no user file is ever unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from focalcli.model.registry import BUNDLED_DIR, DEFAULT_MODEL, bundled_names, official_by_name
from focalcli.settings import read_environment

HUB_ID = re.compile(r"[\w\-.]+/[\w\-.]+")


class ModelLoadError(Exception):
    """A model could not be found, downloaded, parsed or loaded; ``str()`` is one line."""


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Set dotted paths, e.g. ``{"encoder_config.max_cached_steps": 0}``; returns a new dict."""
    config = json.loads(json.dumps(config))
    for path, value in (overrides or {}).items():
        node = config
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return config


def read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except OSError as e:
        raise ModelLoadError(f"{path}: cannot read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    return config


def weights_file_hash(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of the weights file: the model's identity in .fcs."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


#: the roles that turn audio into tokens: their weights and configuration are the token space
TOKEN_SPACE_ROLES = ("encoder", "compressor", "quantizer")
#: config keys that change how a module runs, not which tokens it gives
_RUNTIME_KEYS = frozenset({"max_cached_steps", "use_flex_attention", "dropout"})


def token_space_hash(config: dict[str, Any], state: Mapping[str, Any]) -> str:
    """First 16 hex digits of a SHA-256 naming the token space of a model.

    It covers the encoder side only (``TOKEN_SPACE_ROLES``): their module names and
    configuration (without runtime-only keys) and every tensor of their state dict (name,
    shape and float32 values, so float16 and float32 copies of the same weights agree). Two
    models with the same token space give the same tokens for the same audio, so a decoder
    retrained on frozen encoder-side weights still decodes the files of the old model.
    """
    import torch

    digest = hashlib.sha256(b"focal token space 1\n")
    roles = {}
    for role in TOKEN_SPACE_ROLES:
        cfg = {k: v for k, v in (config.get(f"{role}_config") or {}).items()
               if k not in _RUNTIME_KEYS}
        roles[role] = [config.get(f"{role}_name"), cfg]
    digest.update(json.dumps(roles, sort_keys=True, separators=(",", ":")).encode())
    prefixes = tuple(f"{role}." for role in TOKEN_SPACE_ROLES)
    for key in sorted(k for k in state if k.startswith(prefixes)):
        tensor = state[key].detach().to("cpu", torch.float32).contiguous()
        digest.update(f"\n{key}:{list(tensor.shape)}\n".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


def resolve(source: str | None) -> tuple[str, Path, Path | None]:
    """Turn a model source into ``(name, config_path, weights_path or None)``.

    Order: bundled name; existing folder (``config.json`` + ``model.safetensors``); existing
    config file (weights beside it with the same stem, ``.safetensors`` or ``.pt``); official
    name or hub id, fetched with ``huggingface_hub``.
    """
    source = source or read_environment().model or DEFAULT_MODEL
    if source in bundled_names():
        folder = BUNDLED_DIR / source
        return source, folder / "config.json", folder / "model.safetensors"
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"{path}: no config.json in this folder")
        return path.resolve().name, path / "config.json", _weights_beside(path / "model.json")
    json_path = path if path.suffix == ".json" else path.with_suffix(".json")
    if json_path.is_file():
        if json_path.name == "config.json":  # a hub-layout folder, named by its config
            folder = json_path.resolve().parent
            return folder.name, json_path, _weights_beside(folder / "model.json")
        return json_path.stem, json_path, _weights_beside(json_path)
    official = official_by_name(source)
    if official is not None or HUB_ID.fullmatch(source):
        repo = official.source if official else source
        config_path, weights_path = download(repo)
        return repo.split("/")[-1], config_path, weights_path
    if source == DEFAULT_MODEL:
        raise ModelLoadError(f"the bundled model {DEFAULT_MODEL!r} is missing from this install")
    raise ModelLoadError(
        f"{source}: no such model (not a bundled name, folder, config.json or hub id; "
        "see `focal models`)"
    )


def _weights_beside(config_path: Path) -> Path | None:
    for suffix in (".safetensors", ".pt"):
        candidate = config_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def download(repo: str) -> tuple[Path, Path]:
    """Fetch ``config.json`` and ``model.safetensors`` of a hub repo (cache first, then network).

    The hub client's own log lines (retry notices) are silenced: a failure is one ModelLoadError.
    """
    import logging

    from huggingface_hub import hf_hub_download

    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    paths = []
    for filename in ("config.json", "model.safetensors"):
        try:
            try:
                found = hf_hub_download(repo_id=repo, filename=filename, local_files_only=True)
            except Exception:
                found = hf_hub_download(repo_id=repo, filename=filename)
        except Exception as e:
            reason = type(e).__name__
            raise ModelLoadError(
                f"cannot download {filename} of {repo} from the Hugging Face Hub ({reason}); "
                f"on a machine with access, fetch config.json and model.safetensors of {repo} "
                "into a folder and pass that folder with --model, e.g. "
                "focal decode --model ./folder IN.fcs"
            ) from None
        paths.append(Path(str(found)))
    return paths[0], paths[1]


def load_state_dict(path: Path) -> dict[str, Any]:
    """Read weights without unpickling: safetensors, or ``.pt`` with ``weights_only=True``."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelLoadError(f"{path}: cannot read weights ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: not a state dict")
    return state


def remap_legacy(state: dict[str, Any], target_keys: list[str]) -> dict[str, Any]:
    """Map v0.0.1 checkpoints (separate q/k/v projections) onto the current layout."""
    if not any(".q_proj." in k for k in state):
        return state
    import torch

    out: dict[str, Any] = {}
    for prefix in ("compressor.", "decompressor."):
        src = sorted(k for k in state if k.startswith(prefix))
        dst = sorted(k for k in target_keys if k.startswith(prefix))
        out.update({d: state[s] for d, s in zip(dst, src, strict=False)})
    for key in target_keys:
        if key in out:
            continue
        if ".qkv_proj." in key:
            stem, kind = key.rsplit(".qkv_proj.", 1)
            out[key] = torch.cat([state[f"{stem}.{p}_proj.{kind}"] for p in "qkv"], dim=0)
        elif key in state:
            out[key] = state[key]
    return out


def _base_model(config: dict[str, Any], config_path: Path) -> tuple[str, Path] | None:
    """A hybrid's ``base_model`` (a bundled model's name: released weights never change under
    a name) as (name, weights path), checked against the configs the hybrid nests; None for
    a model without one."""
    name = config.get("base_model")
    if name is None:
        return None
    if not isinstance(name, str) or name not in bundled_names():
        raise ModelLoadError(f"{config_path}: base_model must name a bundled model, got "
                             f"{name!r}")
    from focalcli.model.hybrid import base_mismatch

    base_config = read_config(BUNDLED_DIR / name / "config.json")
    why = base_mismatch(config, base_config)
    if why:
        raise ModelLoadError(f"{config_path}: base_model {name} does not fit: {why}")
    return name, BUNDLED_DIR / name / "model.safetensors"


def load_codec(source: str | None = None, overrides: dict[str, Any] | None = None,
               pretrained: bool = True, precision: str = "fp32") -> Any:
    """Build a ``FocalCodec`` from a model source and load its weights strictly.

    Args:
        source: bundled name, folder, config.json path, official name or hub id;
            None means ``$FOCAL_MODEL`` or the bundled default.
        overrides: dotted config overrides.
        pretrained: load weights (False builds random weights from the config only).
        precision: ``fp32`` (exact), ``bf16``, ``mixed`` or ``int8`` (see
            ``focalcli.model.precision``);
            a reduced one is built from the file one tensor at a time, never all in float32.

    Raises:
        ModelLoadError: with a one-line message naming the model and the problem.
    """
    from focalcli.model import precision as prec
    from focalcli.model.codec import FocalCodec

    try:
        prec.check_precision(precision)
    except prec.PrecisionError as e:
        raise ModelLoadError(str(e)) from None
    name, config_path, weights_path = resolve(source)
    file_config = read_config(config_path)
    config = apply_overrides(file_config, overrides)
    base = _base_model(config, config_path) if pretrained else None
    streamed = (precision != "fp32" and pretrained and weights_path is not None
                and weights_path.suffix == ".safetensors" and base is None)
    try:
        with prec.skipped_init() if streamed else contextlib.nullcontext():
            codec = FocalCodec(config)
    except (ValueError, TypeError) as e:
        raise ModelLoadError(f"{config_path}: {e}") from None
    if streamed:
        assert weights_path is not None
        try:
            prec.load_converted(codec, weights_path, precision)
        except (KeyError, ValueError, RuntimeError, OSError) as e:
            raise ModelLoadError(f"{weights_path}: weights do not fit {config_path}: "
                                 f"{str(e).strip(chr(39))}") from None
        codec.weights_hash = weights_file_hash(weights_path)
        codec.token_space = token_space_hash(file_config, prec.FileTensors(weights_path))
    elif pretrained:
        if weights_path is None:
            raise ModelLoadError(f"{config_path}: no model.safetensors (or .pt) beside it")
        state = remap_legacy(load_state_dict(weights_path), list(codec.state_dict()))
        if base is not None:
            from focalcli.model.hybrid import base_state_in_hybrid

            state = {**base_state_in_hybrid(load_state_dict(base[1])), **state}
        try:
            codec.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
            raise ModelLoadError(f"{weights_path}: weights do not fit {config_path}: {first}") \
                from None
        # a base's weights are fixed by its name (a release) and checked by its config
        codec.weights_hash = weights_file_hash(weights_path)
        codec.token_space = token_space_hash(file_config, codec.state_dict())
    else:
        codec.token_space = None
    if not streamed:
        prec.apply_precision(codec, precision)
    codec.name = name
    return codec.eval()
