"""The root command: its sub-commands, `--version`, and how a failure is shown (one line and a
non-zero exit; the traceback only with `--debug`)."""

from __future__ import annotations

import logging
import sys

import typer

from tagstream import __version__
from tagstream.cli import planning, serving, streaming, training
from tagstream.core.errors import TagstreamError

app = typer.Typer(
    help="tagstream: real-time multi-label product tagging (Kafka -> Faust -> Triton).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


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
planning.register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # the Kafka client logs connection failures with tracebacks; the commands report them in one line
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except TagstreamError as e:
        if debug:
            raise
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        typer.secho(
            f"error: unexpected {type(e).__name__}: {e} (run with --debug for the traceback)",
            fg=typer.colors.RED,
            err=True,
        )
        sys.exit(1)
