"""The `tagstream` command line: train / evaluate / predict / export / serve / publish / worker /
produce / tail-tags / demo. Heavy imports happen inside each command, so `--help` stays fast."""

from tagstream.cli.app import app, main

__all__ = ["app", "main"]
