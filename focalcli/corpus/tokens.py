"""Tokens for language models: `.npy` per file, one parquet table per run, and back to `.fcs`.

* ``OUT/<tree>/<name>.npy``: the file's tokens, shape (channels, num_tokens), uint16 (int32
  for models with more than 16 bits per token); row c is channel c.
* ``OUT/model.json``: the model's identity (name, weights hash, bits per token, token rate,
  sample rates), the same for every file of the folder.
* ``OUT/tokens.parquet`` (``tokens.shard-K-of-N.parquet`` for a shard): one row per file that
  was coded, columns ``input``, ``output`` (the .npy, relative to OUT), ``duration_s``,
  ``num_tokens``, ``channels``, ``source_rate``, ``num_samples``, ``model_name``,
  ``model_hash``, ``tokens`` (list of channels, each a list of uint16/int32); the model
  identity is also in the schema metadata under ``focal.model``.

:func:`toks_to_fcs_bytes` turns a file's tokens back into the `.fcs` that `focal encode` would
have written (with the default packet size), so ``focal decode`` gives the audio back.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from focalcli.corpus.manifest import ManifestRow
from focalcli.errors import ExitCode, FocalError, OutputProblem
from focalcli.pipeline.outputs import atomic_file

MODEL_JSON = "model.json"
#: files per parquet row group (bounds the driver's memory while it writes the table)
ROWS_PER_GROUP = 256


def toks_dtype(bits_per_token: int) -> np.dtype:
    """The narrowest unsigned-safe dtype of `bits_per_token`-bit tokens."""
    return np.dtype(np.uint16) if bits_per_token <= 16 else np.dtype(np.int32)


def toks_to_npy_bytes(toks: Any, bits_per_token: int) -> bytes:
    """int64 (channels, k) tokens -> the bytes of a `.npy` file of :func:`toks_dtype`."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(toks, dtype=toks_dtype(bits_per_token)),
            allow_pickle=False)
    return buf.getvalue()


def read_toks_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """A token file -> int64 (channels, k); ValueError if it is not a 2-D integer array."""
    toks = np.load(path, allow_pickle=False)
    if toks.ndim != 2 or toks.dtype.kind not in "iu":
        raise ValueError(f"{path}: not a (channels, tokens) integer array")
    return toks.astype(np.int64)


def pyarrow_or_exit() -> Any:
    """pyarrow, or a one-line FocalError (exit 2) saying how to install it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise FocalError("the token table needs pyarrow: pip install 'focalcli[ray]' "
                         "(or pip install pyarrow)", exit_code=ExitCode.USAGE) from None
    return pyarrow


def write_model_json(out_dir: Path, identity: dict[str, Any]) -> None:
    """Write ``OUT/model.json`` or check that the one there names the same model."""
    path = out_dir / MODEL_JSON
    existing = read_model_json(out_dir)
    if existing is not None:
        if existing.get("weights_hash") != identity["weights_hash"]:
            raise OutputProblem(f"holds tokens of model {existing.get('name')} "
                                f"({existing.get('weights_hash')}), not {identity['name']} "
                                f"({identity['weights_hash']}); use another --output-dir",
                                str(path))
        return
    with atomic_file(path, force=True) as fh:
        fh.write((json.dumps(identity, indent=2, sort_keys=True) + "\n").encode())


def read_model_json(out_dir: Path) -> dict[str, Any] | None:
    """``OUT/model.json`` as a dict, or None if there is none (or it is not a JSON object)."""
    try:
        data = json.loads((out_dir / MODEL_JSON).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_token_table(path: Path, out_dir: Path, rows: Iterable[ManifestRow],
                      identity: dict[str, Any]) -> int:
    """Write the parquet token table of the ``ok`` rows (reading their .npy); returns rows.

    Written atomically, in row groups of :data:`ROWS_PER_GROUP` files.
    """
    pa = pyarrow_or_exit()
    import pyarrow.parquet as pq

    tok_type = pa.uint16() if toks_dtype(identity["bits_per_token"]) == np.uint16 else pa.int32()
    schema = pa.schema([
        ("input", pa.string()), ("output", pa.string()), ("duration_s", pa.float64()),
        ("num_tokens", pa.int64()), ("channels", pa.int32()), ("source_rate", pa.int32()),
        ("num_samples", pa.int64()), ("model_name", pa.string()), ("model_hash", pa.string()),
        ("tokens", pa.list_(pa.list_(tok_type))),
    ], metadata={"focal.model": json.dumps(identity, sort_keys=True)})
    count = 0
    from focalcli.pipeline.outputs import atomic_path

    with atomic_path(path, force=True) as tmp:
        writer = pq.ParquetWriter(str(tmp), schema)
        try:
            batch: list[dict[str, Any]] = []
            for row in rows:
                if not row.ok:
                    continue
                toks = read_toks_npy(row.output)
                batch.append({
                    "input": row.input, "output": os.path.relpath(row.output, out_dir),
                    "duration_s": row.duration_s, "num_tokens": int(toks.shape[1]),
                    "channels": int(toks.shape[0]), "source_rate": row.source_rate,
                    "num_samples": row.num_samples, "model_name": identity["name"],
                    "model_hash": identity["weights_hash"], "tokens": toks.tolist()})
                if len(batch) >= ROWS_PER_GROUP:
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                    count += len(batch)
                    batch = []
            if batch or not count:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
        finally:
            writer.close()
    return count


def toks_to_fcs_bytes(toks: np.ndarray, identity: dict[str, Any], *, source_rate: int,
                      num_samples: int) -> bytes:
    """Tokens (channels, k) of the model `identity` -> the `.fcs` bytes `focal encode` writes.

    `source_rate` (Hz) and `num_samples` (per channel, at `source_rate`) come from the token
    table (or the manifest); `focal decode` of the result restores the original length.
    """
    from focalcli.pipeline.fcs import new_writer

    model = SimpleNamespace(name=identity["name"], weights_hash=identity["weights_hash"],
                            bits_per_token=identity["bits_per_token"],
                            token_rate=identity["token_rate"],
                            sample_rate_input=identity["sample_rate_input"],
                            sample_rate_output=identity["sample_rate_output"],
                            token_space=identity.get("token_space"))
    buf = io.BytesIO()
    writer = new_writer(buf, model, source_rate=source_rate, channels=int(toks.shape[0]),
                            source_frames=num_samples, packet_tokens=None, live=False)
    writer.write(np.asarray(toks, dtype=np.int64))
    writer.close(num_samples=num_samples)
    return buf.getvalue()
