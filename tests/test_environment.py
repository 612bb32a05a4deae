"""focal reads its environment variables in one place: ``focalcli/settings.py``.

Every module under focalcli/ is parsed (ast). A use of ``os.environ`` or ``os.getenv`` outside
settings.py fails the test unless it only writes a variable for what runs later (a child
process, OpenMP, Ray): ``os.environ.setdefault(...)``, ``os.environ[key] = ...``,
``os.environ.update(...)``, ``os.environ.pop(...)``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from focalcli.model.loading import resolve
from focalcli.settings import read_environment

PACKAGE = Path(__file__).resolve().parents[1] / "focalcli"
READER = "settings.py"
_WRITES = {"setdefault", "update", "pop"}
#: reads that are still elsewhere, each with its reason; the test fails once one is gone, so
#: this list can only shrink
KNOWN: dict[str, str] = {}


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ`` (``from os import environ``)."""
    return ((isinstance(node, ast.Attribute) and node.attr == "environ")
            or (isinstance(node, ast.Name) and node.id == "environ"))


def environment_reads(path: Path) -> list[int]:
    """Line numbers where a module reads the environment (writes excluded)."""
    tree = ast.parse(path.read_text(), str(path))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "getenv" or (
                isinstance(node, ast.Name) and node.id == "getenv"):
            lines.append(node.lineno)
            continue
        if not _is_environ(node):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.attr in _WRITES:
            continue
        if isinstance(parent, ast.Subscript) and isinstance(parent.ctx, ast.Store | ast.Del):
            continue
        if isinstance(parent, ast.ImportFrom):
            continue
        lines.append(node.lineno)
    return sorted(lines)


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_settings_reads_the_environment(module: Path) -> None:
    rel = str(module.relative_to(PACKAGE))
    if rel == READER or rel in KNOWN:
        return
    lines = environment_reads(module)
    assert not lines, f"{rel} reads the environment at lines {lines}: use focalcli.settings"


def test_known_readers_still_read() -> None:
    for rel, why in KNOWN.items():
        assert environment_reads(PACKAGE / rel), f"{rel} no longer reads the environment: " \
                                                 f"remove it from KNOWN ({why})"


def test_the_checker_tells_reads_from_writes(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("import os\nfrom os import environ\n"
                   "os.environ.setdefault('A', '1')\nos.environ['B'] = '2'\n"
                   "x = os.environ.get('C')\ny = os.getenv('D')\nz = environ['E']\n"
                   "w = dict(os.environ)\n")
    assert environment_reads(src) == [5, 6, 7, 8]
    assert environment_reads(PACKAGE / READER)


def test_environment_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("FOCAL_MODEL", "FOCAL_TRAIN_DIR", "FOCAL_CACHE", "FOCAL_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    env = read_environment()
    assert (env.model, env.threads) == (None, 1)
    assert env.cache_dir == tmp_path / ".cache" / "focal"
    assert env.train_dir == tmp_path / ".cache" / "focal" / "train"
    monkeypatch.setenv("FOCAL_TRAIN_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FOCAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FOCAL_MODEL", "")  # empty counts as unset
    env = read_environment()
    assert (env.train_dir, env.cache_dir, env.model) == (tmp_path / "runs", tmp_path / "cache",
                                                         None)


def test_model_default_follows_focal_model(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """``resolve(None)`` reads FOCAL_MODEL through the settings, at call time."""
    (tmp_path / "m.json").write_text("{}")
    monkeypatch.setenv("FOCAL_MODEL", str(tmp_path / "m.json"))
    assert resolve(None)[:2] == ("m", tmp_path / "m.json")
    monkeypatch.delenv("FOCAL_MODEL")
    assert resolve(None)[0] == "focal-small"
