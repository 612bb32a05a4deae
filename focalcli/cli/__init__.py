"""The `focal` command line: thin Typer commands over the model, engine and container.

``main()`` is the console entry point; it is the one place where domain errors become a
one-line message on stderr and an exit status (see :mod:`focalcli.errors`).
"""

from __future__ import annotations

import signal
import sys
import traceback
from typing import NoReturn

from focalcli.cli.app import app
from focalcli.cli.outputs import silence_stdout
from focalcli.cli.report import print_error
from focalcli.cli.settings import debug_enabled
from focalcli.errors import BrokenPipe, ExitCode, FocalError, describe_os_error

__all__ = ["app", "main", "run"]


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so partial outputs are removed on the way out.
    raise SystemExit(128 + signum)


def ray_without_address(args: list[str]) -> list[str]:
    """`focal encode ... --ray` with no address (last, or followed by another option) means
    a local cluster: ``--ray local``. Click options take a value or not, never maybe."""
    if "encode" not in args or "--ray" not in args:
        return args
    out = list(args)
    for i in range(len(out) - 1, -1, -1):
        if out[i] == "--ray" and (i + 1 == len(out) or (out[i + 1].startswith("-")
                                                         and out[i + 1] != "-")):
            out.insert(i + 1, "local")
    return out


def run(argv: list[str] | None = None) -> int:
    """Run the command line with `argv` (default: sys.argv[1:]) and return the exit status."""
    import typer
    from typer import _click as click

    command = typer.main.get_command(app)
    args = ray_without_address(list(sys.argv[1:] if argv is None else argv))
    try:
        result = command.main(args=args, prog_name="focal", standalone_mode=False)
        code = result if isinstance(result, int) else ExitCode.OK
    except click.exceptions.NoArgsIsHelpError as err:
        err.show()
        code = err.exit_code
    except click.exceptions.UsageError as err:
        where = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        print_error(f"{err.format_message()}{where}")
        code = err.exit_code
    except click.exceptions.ClickException as err:
        print_error(err.format_message())
        code = err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = ExitCode.INTERRUPTED
    except (BrokenPipe, BrokenPipeError):
        silence_stdout()
        code = ExitCode.BROKEN_PIPE
    except FocalError as err:
        print_error(err)
        code = err.exit_code
    except OSError as err:
        name = f"{err.filename}: " if err.filename else ""
        print_error(f"{name}{describe_os_error(err)}")
        code = ExitCode.FAILURE
    except Exception as err:  # noqa: BLE001 - never a traceback for the user, unless asked
        if debug_enabled():
            traceback.print_exc()
        print_error(f"internal error: {type(err).__name__}: {err} (FOCAL_DEBUG=1 shows details)")
        code = ExitCode.FAILURE
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        silence_stdout()
        code = ExitCode.BROKEN_PIPE
    except OSError as err:  # e.g. stdout on a full disk: text still buffered at the end
        silence_stdout()
        if code == ExitCode.OK:
            print_error(f"stdout: cannot write: {describe_os_error(err)}")
            code = ExitCode.OUTPUT
    return int(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point of `focal` (`argv`: the arguments, default sys.argv[1:])."""
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run(argv))
