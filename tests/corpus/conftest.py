"""Fixtures for the corpus tests: a small synthesized corpus and its local `focal encode`."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_testutil import focal, tree_bytes, write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight 1.5-2.5 s files in spk0/ spk1/ spk2/ (16, 22.05, 44.1 kHz; wav, flac; one
    stereo)."""
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root, 8)
    return root


@pytest.fixture(scope="session")
def local_fcs(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The plain local batch's output: {relative path: .fcs bytes} (the reference)."""
    out = tmp_path_factory.mktemp("local") / "out"
    focal("encode", corpus, "-d", out, cwd=corpus.parent, expect=0)
    ref = tree_bytes(out, ".fcs")
    assert len(ref) == 8
    return ref
