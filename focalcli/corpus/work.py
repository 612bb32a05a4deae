"""One corpus file -> one output, as a thread of the local run or a Ray actor does it.

The output is made in memory first (an `.fcs` of an hour of speech is about 300 kB), then
written atomically. An output that already exists but that the manifest does not record
(e.g. a run killed between the rename and the manifest line) is accepted when the new
encode gives the same bytes, and refused otherwise unless `force`: never overwritten silently.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from focalcli.corpus.manifest import STATUS_ERROR, STATUS_OK, ManifestRow
from focalcli.errors import ExitCode, FocalError, InputProblem, ModelProblem, OutputProblem
from focalcli.pipeline.jobs import Job

FORMAT_FCS = "fcs"
FORMAT_NPY = "npy"
FORMATS = (FORMAT_FCS, FORMAT_NPY)


@dataclass(frozen=True)
class EncodeSpec:
    """How every file of the run is coded (picklable: sent to Ray workers).

    model: model source for `load_codec` (None: bundled default). threads: torch threads per
    worker (None: the engine's default). fmt: ``fcs`` or ``npy``. packet_ms: `.fcs` packet
    duration (None: default). multichannel: code each channel as its own stream. precision:
    compute precision of the model (``fp32``, ``bf16``, ``mixed``, ``int8``;
    None: fp32).
    """

    model: str | None = None
    threads: int | None = None
    precision: str | None = None
    force: bool = False
    fmt: str = FORMAT_FCS
    multichannel: bool = False
    packet_ms: float | None = None


@dataclass(frozen=True)
class FileResult:
    """A manifest row plus what the driver needs beyond it (exit status, model identity,
    warnings about the input such as clipping, to print)."""

    row: ManifestRow
    exit_code: int
    model_identity: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()


def model_identity(codec: Any, precision: str | None = None) -> dict[str, Any]:
    """What a reader of tokens needs to know about the model (`model.json`, token table).

    `token_space` (16 hex digits, or None) names the encoder side: models that share it give
    the same tokens, so their tokens can be decoded by either. `precision`: the compute
    precision the tokens were made with (fp32 unless asked otherwise).
    """
    return {"name": codec.name, "weights_hash": codec.weights_hash,
            "bits_per_token": int(codec.bits_per_token), "token_rate": float(codec.token_rate),
            "sample_rate_input": int(codec.sample_rate_input),
            "sample_rate_output": int(codec.sample_rate_output), "causal": bool(codec.causal),
            "token_space": getattr(codec, "token_space", None),
            "precision": precision or "fp32"}


class FileEncoder:
    """Codes files with one model, loaded on the first file (or by :meth:`load`)."""

    def __init__(self, spec: EncodeSpec) -> None:
        self.spec = spec
        self._codec: Any = None
        self._lock = threading.Lock()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def load(self) -> Any:
        """The codec (loaded once); ModelProblem (exit 7) if it cannot be loaded."""
        with self._lock:
            if self._codec is None:
                from focalcli.pipeline.codecs import CodecCache
                from focalcli.settings import Settings

                self._codec = CodecCache(Settings(model=self.spec.model,
                                                  threads=self.spec.threads,
                                                  precision=self.spec.precision)).get()
            return self._codec

    def encode(self, job: Job, check: Callable[[], None] | None = None) -> FileResult:
        """Code `job`; a problem with it is returned as an error row, never raised.

        `check()` is called before each block of audio; what it raises (cancellation)
        propagates, and the partial output is removed.
        """
        from focalcli.pipeline.jobs import Cancelled

        start = time.monotonic()
        try:
            if job.problem is not None:
                raise job.problem.with_path(job.src)
            row, identity, warnings = self._encode(job, check)
            row = ManifestRow(**{**row.__dict__, "seconds": time.monotonic() - start})
            return FileResult(row, ExitCode.OK, identity, warnings)
        except Cancelled:
            raise
        except FocalError as err:
            err.with_path(job.src)
            code = err.exit_code
            message = str(err)
        except MemoryError:
            code, message = ExitCode.FAILURE, f"{job.src}: out of memory"
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the corpus
            code = ExitCode.FAILURE
            message = f"{job.src}: internal error: {type(err).__name__}: {err}"
        row = ManifestRow(job.src, job.dst, STATUS_ERROR, seconds=time.monotonic() - start,
                          worker=self.worker, error=message)
        return FileResult(row, code)

    def _encode(self, job: Job, check: Callable[[], None] | None
                ) -> tuple[ManifestRow, dict[str, Any], tuple[str, ...]]:
        from focalcli.audio import AudioError, input_warnings, open_audio_file

        try:
            source = open_audio_file(job.src)
        except AudioError as err:
            raise InputProblem(str(err), job.src) from None
        with source:
            codec = self.load()
            payload, done = self._payload(codec, source, job.src, check)
        self._publish(Path(job.dst), payload)
        # NaN, beyond full scale, clipped: warned of as the local batch does
        warnings = tuple(f"{job.src}: {problem}" for problem in input_warnings(source))
        identity = model_identity(codec, self.spec.precision)
        row = ManifestRow(job.src, job.dst, STATUS_OK, duration_s=done.duration_s,
                          tokens=done.num_tokens, channels=done.channels, bytes=len(payload),
                          worker=self.worker, model=f"{codec.name}@{codec.weights_hash}",
                          source_rate=done.source_rate, num_samples=done.num_frames)
        return row, identity, warnings

    def _payload(self, codec: Any, source: Any, name: str,
                 check: Callable[[], None] | None) -> tuple[bytes, Any]:
        from focalcli.corpus.tokens import toks_to_npy_bytes
        from focalcli.pipeline import encode_source, packet_tokens_for

        if self.spec.fmt == FORMAT_NPY:
            done = encode_source(codec, source, None, name=name,
                                 multichannel=self.spec.multichannel, keep_toks=True, check=check)
            return toks_to_npy_bytes(done.toks, codec.bits_per_token), done
        buf = io.BytesIO()
        done = encode_source(codec, source, buf, name=name, multichannel=self.spec.multichannel,
                             packet_tokens=packet_tokens_for(codec, self.spec.packet_ms, False),
                             check=check)
        return buf.getvalue(), done

    def _publish(self, dst: Path, payload: bytes) -> None:
        from focalcli.pipeline.outputs import atomic_file

        if not self.spec.force and os.path.lexists(dst) and not dst.is_dir():
            try:
                same = dst.read_bytes() == payload
            except OSError:
                same = False
            if same:
                return  # a finished output the manifest missed: keep it
            raise OutputProblem("already exists with other content (use --force to overwrite)",
                                str(dst))
        with atomic_file(dst, self.spec.force) as fh:
            fh.write(payload)


def is_model_failure(result: FileResult) -> bool:
    """A model that cannot load fails every file: the run stops and says it once."""
    return result.exit_code == ExitCode.MODEL


def model_problem(result: FileResult) -> ModelProblem:
    message = result.row.error
    prefix = f"{result.row.input}: "
    return ModelProblem(message[len(prefix):] if message.startswith(prefix) else message)
