"""The root command: its sub-commands, `--version`, and how a failure is shown (one line and a
non-zero exit; the traceback only with `--debug`)."""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import typer
from typer.exceptions import TyperException

from tagstream import __version__
from tagstream.cli import serving, streaming, training
from tagstream.cli.extras import extra_for
from tagstream.cli.options import command_line
from tagstream.core.errors import TagstreamError

app = command_line("tagstream: real-time multi-label product tagging (Kafka -> Faust -> Triton).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tagstream {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
    debug: bool = typer.Option(False, "--debug", help="show the traceback when a command fails"),
) -> None:
    """Real-time multi-label product tagging."""


training.register(app)
serving.register(app)
streaming.register(app)


def _unexpected(e: Exception) -> NoReturn:
    typer.secho(
        f"error: unexpected {type(e).__name__}: {e} (run with --debug for the traceback)",
        fg=typer.colors.RED,
        err=True,
    )
    sys.exit(1)


def main() -> None:
    run_cli(app)


def run_cli(cli: typer.Typer) -> None:
    """Run a typer app the tagstream way: a failure is one line and a non-zero exit (the traceback
    only with --debug); a missing extra is named."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the Kafka client logs connection failures with tracebacks; the commands report them in one line
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    debug = "--debug" in sys.argv[1:]
    try:
        code = cli(standalone_mode=False)  # click's usage errors come here, to be shown in one line
    except typer.Abort:
        sys.exit(130)
    except TyperException as e:  # click's usage errors: an unknown option, a value out of its range or choices
        message = " ".join(str(getattr(e, "format_message", e.__str__)()).replace("Value error, ", "").split())
        if message:  # none when the help was shown for want of a command
            typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        sys.exit(int(getattr(e, "exit_code", 2)))
    except TagstreamError as e:
        if debug:
            raise
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except ModuleNotFoundError as e:  # a command of a role this install lacks (e.g. train without torch)
        if debug:
            raise
        extra = extra_for(e.name or "")
        if extra is None:
            _unexpected(e)
        typer.secho(
            f"error: this command needs the {extra} extra ({e.name} is not installed): "
            f"pip install 'tagstream[{extra}]'",
            fg=typer.colors.RED,
            err=True,
        )
        sys.exit(2)
    except Exception as e:
        if debug:
            raise
        _unexpected(e)
    if isinstance(code, int) and code:  # typer.Exit(code) from a command
        sys.exit(code)
