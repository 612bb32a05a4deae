"""Loading models once per run: batch jobs (and threads) share each loaded codec.

Everything heavy (torch, focalcli.model.codec, focalcli.engine) is imported on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from focalcli.cli.errors import ModelProblem, StreamInvalid
from focalcli.cli.settings import Settings


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
            from focalcli.model import ModelLoadError, load_codec

            try:
                codec = load_codec(source)
            except ModelLoadError as err:
                problem = ModelProblem(f"cannot load model: {err}")
                self._failures[source] = problem
                raise problem from None
            self._codecs[source] = codec
            return codec

    def for_stream(self, model_name: str, weights_hash: str, name: str) -> Any:
        """The codec to decode a .fcs made with `model_name` whose weights hash is `weights_hash`.

        --model (or FOCAL_MODEL) if given, else `model_name` if it is a bundled model, else the
        default. StreamInvalid (exit 5) if that codec's weights are not the file's.
        """
        from focalcli.model.registry import bundled_names

        wanted = self.settings.model
        if wanted is None and model_name in bundled_names():
            wanted = model_name
        codec = self.get(wanted)
        if weights_hash and codec.weights_hash != weights_hash:
            raise StreamInvalid(
                f"was made with model {model_name} (weights {weights_hash}), not {codec.name} "
                f"(weights {codec.weights_hash}); use --model {model_name} (its name, folder "
                "or config.json)", name)
        return codec
