"""The man page and the bash/zsh/fish completions list exactly the options `focal --help` has.

Options come from the click command tree Typer builds (the same tree `--help` prints); one
subprocess test checks that tree against the real `focal CMD --help` output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from focalcli.cli import app
from focalcli.errors import EXIT_STATUS_TABLE

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "man" / "focal.1"
BASH = ROOT / "completions" / "focal.bash"
ZSH = ROOT / "completions" / "_focal"
FISH = ROOT / "completions" / "focal.fish"

Path_ = tuple[str, ...]


def command_options() -> dict[Path_, set[str]]:
    """{("encode",): {"--force", "-f", ...}, (): global options, ("models", "pull"): ...}."""
    out: dict[Path_, set[str]] = {}

    def walk(cmd: object, path: Path_) -> None:
        opts: set[str] = set()
        for param in cmd.params:  # type: ignore[attr-defined]
            if param.param_type_name == "option":
                opts.update(param.opts)
                opts.update(param.secondary_opts)
        opts.update({"--help", "-h"})
        out[path] = opts
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return out


OPTIONS = command_options()
OPTION_RE = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")


def test_command_tree_is_what_we_document() -> None:
    assert set(OPTIONS) == {(), ("encode",), ("decode",), ("info",), ("stream",), ("play",),
                            ("devices",), ("models",), ("models", "pull"), ("train",),
                            ("export-model",)}


@pytest.mark.parametrize("path", sorted(OPTIONS), ids=lambda p: " ".join(p) or "focal")
def test_help_output_lists_every_option(path: Path_) -> None:
    text = subprocess.run([sys.executable, "-m", "focalcli", *path, "--help"],
                          capture_output=True, text=True, check=True).stdout
    assert set(OPTION_RE.findall(text)) >= OPTIONS[path]


# --- man page -----------------------------------------------------------------------------

def man_sections() -> dict[Path_, str]:
    """Text of each command's part of the man page, keyed like OPTIONS."""
    text = MAN.read_text()
    parts = re.split(r"^(\.S[SH] .*)$", text, flags=re.M)
    sections: dict[Path_, str] = {}
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        if title.startswith(".SH GLOBAL OPTIONS"):
            sections[()] = body
        m = re.match(r'\.SS "focal ((?:[a-z][a-z\\-]* ?)+)', title)
        if m:
            sections[tuple(m.group(1).replace("\\-", "-").split())] = body
    return sections


def man_options(body: str) -> set[str]:
    """Options named in the `.TP` item lines of a section."""
    items = re.findall(r"^\.TP\n(.*)$", body, flags=re.M)
    found: set[str] = set()
    for line in items:
        found.update(OPTION_RE.findall(line.replace("\\-", "-")))
    return found


@pytest.mark.parametrize("path", sorted(OPTIONS), ids=lambda p: " ".join(p) or "focal")
def test_man_page_lists_exactly_the_options(path: Path_) -> None:
    sections = man_sections()
    assert path in sections, f"man page has no section for focal {' '.join(path)}"
    documented = man_options(sections[path])
    if path != ():
        documented |= {"--help", "-h"}  # GLOBAL OPTIONS: "-h, --help ... (also after any command)"
    assert documented == OPTIONS[path]


def test_man_page_has_exit_status_examples_and_environment() -> None:
    text = MAN.read_text()
    for heading in ("EXIT STATUS", "EXAMPLES", "ENVIRONMENT", "SYNOPSIS", "DESCRIPTION"):
        assert f".SH {heading}" in text
    exit_part = text.split(".SH EXIT STATUS", 1)[1].split(".SH", 1)[0]
    documented = {int(c) for c in re.findall(r"^\.B (\d+)$", exit_part, flags=re.M)}
    assert documented == {int(code) for code, _ in EXIT_STATUS_TABLE}
    for var in ("FOCAL_MODEL", "FOCAL_THREADS", "FOCAL_JOBS", "FOCAL_DEBUG"):
        assert f".B {var}" in text


def test_help_epilog_has_every_exit_code() -> None:
    text = subprocess.run([sys.executable, "-m", "focalcli", "--help"], capture_output=True,
                          text=True, check=True).stdout
    for code, _ in EXIT_STATUS_TABLE:
        assert re.search(rf"^\s+{int(code)}\s+\S", text, flags=re.M), code


# --- completions --------------------------------------------------------------------------

def bash_options() -> dict[Path_, set[str]]:
    text = BASH.read_text()
    out: dict[Path_, set[str]] = {}
    m = re.search(r'"\)\n\s+if \[\[ \$cur == -\* \]\]; then\n'
                  r'\s+COMPREPLY=\(\$\(compgen -W "([^"]+)"', text)
    assert m, "no global option list in focal.bash"
    out[()] = set(m.group(1).split())
    for cmd in ("encode", "decode", "info", "stream", "play", "devices", "train",
                "export-model"):
        m = re.search(rf'^\s+{cmd}\)\n\s+opts="([^"]+)"', text, flags=re.M)
        assert m, f"no option list for {cmd} in focal.bash"
        out[(cmd,)] = set(m.group(1).split())
    models = text.split("        models)\n", 1)[1]
    pull, rest = models.split("pull)", 1)[1].split("*)", 1)
    out[("models", "pull")] = set(re.search(r'compgen -W "([^"]+)"', pull).group(1).split())
    out[("models",)] = set(re.search(r'compgen -W "([^"]+)"', rest).group(1).split())
    return out


def zsh_options() -> dict[Path_, set[str]]:
    text = ZSH.read_text()
    common = set(OPTION_RE.findall(text.split("_focal_common=(", 1)[1].split("\n)", 1)[0]))

    def body(func: str) -> str:
        return text.split(f"\n{func}() {{", 1)[1].split("\n}\n", 1)[0]

    def opts(chunk: str) -> set[str]:
        # option specs look like '(-f --force)'{-f,--force}'[...]' or '--raw[...]'
        found = set()
        for spec in re.findall(r"\{(-[\w-]+(?:,-[\w-]+)*)\}|'(--?[\w-]+)\[", chunk):
            for group in spec:
                found.update(o for o in group.split(",") if o)
        if "$_focal_common" in chunk:
            found |= common
        return found

    pull_part = body("_focal_models_cmd").split("pull)", 1)[1]
    return {
        (): opts(body("_focal").split("'1: :->command'", 1)[0]),
        ("encode",): opts(body("_focal_encode")),
        ("decode",): opts(body("_focal_decode")),
        ("info",): opts(body("_focal_info")),
        ("stream",): opts(body("_focal_stream")),
        ("play",): opts(body("_focal_play")),
        ("devices",): opts(body("_focal_devices")),
        ("train",): opts(body("_focal_train")),
        ("export-model",): opts(body("_focal_export_model")),
        ("models",): opts(body("_focal_models_cmd").split("'1: :->sub'", 1)[0]),
        ("models", "pull"): opts(pull_part),
    }


def fish_options() -> dict[Path_, set[str]]:
    out: dict[Path_, set[str]] = {path: set() for path in OPTIONS}
    loop: list[str] = []
    for raw in FISH.read_text().splitlines():
        line = raw.strip()
        if line.startswith("for cmd in "):
            words = line.split()[3:]
            loop = (["encode", "decode", "info", "models", "train", "export-model"]
                    if words == ["$commands"] else words)
            continue
        if line == "end":
            loop = []
            continue
        if not line.startswith("complete -c focal"):
            continue
        opts = {f"-{s}" for s in re.findall(r"(?<!\S)-s (\w)", line)}
        opts |= {f"--{long}" for long in re.findall(r"(?<!\S)-l ([\w-]+)", line)}
        if not opts:
            continue
        if "not __fish_seen_subcommand_from $commands" in line:
            targets: list[Path_] = [()]
        elif "__fish_seen_subcommand_from $cmd" in line:
            targets = [(c,) for c in loop]
        elif "__fish_seen_subcommand_from models; and not" in line:
            targets = [("models",)]
        elif "__fish_seen_subcommand_from pull" in line:
            targets = [("models", "pull")]
        else:
            m = re.search(r"__fish_seen_subcommand_from ([\w-]+)", line)
            assert m, line
            targets = [(m.group(1),)]
        for target in targets:
            out[target] |= opts
    # the per-command loop adds -q/-v/-h to "models"; pull inherits them in fish
    out[("models", "pull")] |= {"-q", "--quiet", "-v", "--verbose", "-h", "--help"}
    return out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_list_exactly_the_options(shell: str) -> None:
    found = {"bash": bash_options, "zsh": zsh_options, "fish": fish_options}[shell]()
    for path, expected in OPTIONS.items():
        got = found.get(path, set())
        assert got == expected, (shell, path, sorted(got ^ expected))


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_offer_every_command(shell: str) -> None:
    text = {"bash": BASH, "zsh": ZSH, "fish": FISH}[shell].read_text()
    for name in ("encode", "decode", "info", "stream", "play", "devices", "models", "pull",
                 "train", "export-model"):
        assert name in text
