"""The import graph between focal's packages is the documented one, for every pair.

Every module under focalcli/ is parsed (ast), and every import in it counts: at the top,
inside functions, under ``if TYPE_CHECKING``. A package may import only the packages listed
for it in ALLOWED (and itself); README.md's "Layout" section describes the same graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "focalcli"

#: the roots every layer may use: the exception family and the settings/environment reader
ROOTS = {"errors", "settings"}
#: package (or top-level module) -> the packages it may import besides itself and ROOTS
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "settings": set(),
    "container": set(),
    "model": set(),
    "engine": {"model"},
    "audio": {"container"},
    "pipeline": {"engine", "container", "audio", "model"},
    "live": {"pipeline", "engine", "container", "audio", "model"},
    "corpus": {"pipeline", "engine", "container", "audio", "model"},
    "api": {"pipeline", "engine", "container", "audio", "model"},
    "cli": {"__init__", "api", "corpus", "live", "pipeline", "engine", "container", "audio",
            "model", "train"},
    "train": {"model"},
    "__init__": {"api"},
    "__main__": {"cli"},
}
#: imports that break the graph today, each with the reason it is still there. The test fails
#: when one of them disappears too, so this list can only shrink.
KNOWN: dict[tuple[str, str], str] = {}


def layer_of(module_path: Path) -> str:
    """The package a module belongs to; every ``__main__.py`` is an entry point (``python -m``),
    the layer ``__main__`` above the CLI, which nothing imports."""
    rel = module_path.relative_to(PACKAGE)
    if rel.name == "__main__.py":
        return "__main__"
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_layers(module_path: Path) -> set[str]:
    """The focalcli packages (first component after ``focalcli.``) a module imports."""
    tree = ast.parse(module_path.read_text(), str(module_path))
    here = module_path.relative_to(PACKAGE).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = list(here[: len(here) - node.level])
                target = ".".join(["focalcli", *base, *(node.module or "").split(".")])
                names = [target.rstrip(".")]
                if not node.module:
                    names = [f"{target.rstrip('.')}.{alias.name}" for alias in node.names]
            elif node.module:
                names = [node.module]
                if node.module == "focalcli":  # a submodule, or a name of focalcli/__init__.py
                    names = [f"focalcli.{alias.name}" if _is_submodule(alias.name)
                             else "focalcli.__init__" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "focalcli" and len(parts) > 1:
                found.add(parts[1])
    return found


def _is_submodule(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def all_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_package_has_a_rule() -> None:
    layers = {layer_of(p) for p in all_modules()}
    assert layers <= set(ALLOWED), f"no layering rule for {sorted(layers - set(ALLOWED))}"


@pytest.mark.parametrize("module", all_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_graph(module: Path) -> None:
    layer = layer_of(module)
    rel = str(module.relative_to(PACKAGE))
    allowed = ALLOWED.get(layer, set()) | ROOTS | {layer}
    if layer in ROOTS:
        allowed = {layer}
    bad = {dep for dep in imported_layers(module) - allowed if (rel, dep) not in KNOWN}
    assert not bad, f"{rel} ({layer}) imports {sorted(bad)}; allowed: {sorted(allowed)}"


def test_known_exceptions_are_still_needed() -> None:
    """Each listed exception still exists (remove it from KNOWN once the import is gone)."""
    for (rel, dep), why in KNOWN.items():
        assert dep in imported_layers(PACKAGE / rel), f"{rel} no longer imports {dep} ({why})"


def test_entry_points_are_their_own_layer() -> None:
    """``python -m focalcli.train`` is ``focal train``: its module may import the CLI, and no
    other module of train/ may."""
    assert layer_of(PACKAGE / "train" / "__main__.py") == "__main__"
    assert layer_of(PACKAGE / "train" / "run.py") == "train"
    assert "cli" in imported_layers(PACKAGE / "train" / "__main__.py")
    assert "cli" not in ALLOWED["train"]


def test_the_parser_sees_nested_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function and a relative one are both found."""
    fake = PACKAGE / "container" / "reader.py"
    assert "container" in imported_layers(fake)  # `from .fcs import ...`
    nested = PACKAGE / "pipeline" / "streaming.py"
    assert {"engine", "audio"} <= imported_layers(nested)  # only inside functions there
