"""``python -m focalcli.train ARGS`` is ``focal train ARGS``, and ``python -m focalcli.train
export ARGS`` is ``focal export-model ARGS``: the one front door (``focalcli/cli/train_cmd.py``),
reached by the module name that older scripts and running jobs use.

An entry point, like ``focalcli/__main__.py``: it sits above the CLI (tests/test_layering.py).
"""

import sys

from focalcli.cli import main


def focal_argv(argv: list[str]) -> list[str]:
    """The ``focal`` arguments for this module's ``argv`` (without the program name)."""
    if argv[:1] == ["export"]:
        return ["export-model", *argv[1:]]
    return ["train", *argv]


if __name__ == "__main__":
    main(focal_argv(sys.argv[1:]))
