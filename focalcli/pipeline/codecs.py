"""Loading models once per run (batch jobs and threads share each loaded codec), and the
model that decodes a given stream.

Everything heavy (torch, focalcli.model.codec, focalcli.engine) is imported on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from focalcli.errors import ModelProblem, StreamInvalid
from focalcli.settings import Settings


def load_model(source: str | None, precision: str = "fp32") -> Any:
    """The `FocalCodec` for `source` (a name, folder or config.json; None: FOCAL_MODEL or the
    bundled default) at `precision`; ModelProblem (exit 7) if it cannot be loaded."""
    from focalcli.model import ModelLoadError, load_codec

    try:
        return load_codec(source, precision=precision)
    except ModelLoadError as err:
        raise ModelProblem(f"cannot load model: {err}") from None


def codec_fits(codec: Any, weights_hash: str, token_space: str | None) -> bool:
    """Whether `codec` decodes a stream made with weights `weights_hash` (token space
    `token_space`, format version 2): the same weights, or the same token space."""
    if not weights_hash or codec.weights_hash == weights_hash:
        return True
    return token_space is not None and getattr(codec, "token_space", None) == token_space


class CodecCache:
    """Codecs by model source, loaded on first request; thread-safe.

    `get(None)` is the model the settings ask for (`--model`/FOCAL_MODEL, else the bundled one).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._codecs: dict[str | None, Any] = {}
        self._failures: dict[str | None, ModelProblem] = {}
        self._threads_set = False

    def get(self, source: str | None = None) -> Any:
        """The loaded `FocalCodec` for `source`; ModelProblem (exit 7) if it cannot be loaded."""
        source = source if source is not None else self.settings.model
        with self._lock:
            if source in self._codecs:
                return self._codecs[source]
            if source in self._failures:
                raise self._failures[source]
            if not self._threads_set:
                from focalcli.engine import set_threads

                set_threads(self.settings.threads)
                self._threads_set = True
            try:
                codec = load_model(source, self.settings.precision or "fp32")
            except ModelProblem as problem:
                self._failures[source] = problem
                raise
            self._codecs[source] = codec
            return codec

    def for_stream(self, model_name: str, weights_hash: str, name: str,
                   token_space: str | None = None) -> Any:
        """The codec to decode a .fcs made with `model_name` whose weights hash is `weights_hash`.

        --model (or FOCAL_MODEL) if given, else `model_name` if it is a bundled model, else the
        default. A codec fits when its weights are the file's, or when the file names a token
        space (format version 2) and the codec has the same one (a decoder-side update of the
        same encoder). Without --model, when the first choice does not fit, the bundled models
        are tried (the default first): released bundled models never change under their name,
        so a file keeps decoding with later releases. StreamInvalid (exit 5) if none fits.
        """
        from focalcli.model.registry import DEFAULT_MODEL, bundled_names

        wanted = self.settings.model
        bundled = bundled_names()
        if wanted is None and model_name in bundled:
            wanted = model_name
        codec = self.get(wanted)
        if self._fits(codec, weights_hash, token_space):
            return codec
        if self.settings.model is None:
            others = sorted((b for b in bundled if b != wanted), key=lambda b: b != DEFAULT_MODEL)
            for fit in (lambda c: bool(weights_hash) and c.weights_hash == weights_hash,
                        lambda c: self._fits(c, weights_hash, token_space)):
                for other in others:
                    try:
                        candidate = self.get(other)
                    except ModelProblem:
                        continue
                    if fit(candidate):
                        return candidate
        raise StreamInvalid(
            f"was made with model {model_name} (weights {weights_hash}), not {codec.name} "
            f"(weights {codec.weights_hash}); use --model {model_name} (its name, folder "
            "or config.json)", name)

    @staticmethod
    def _fits(codec: Any, weights_hash: str, token_space: str | None) -> bool:
        return codec_fits(codec, weights_hash, token_space)
