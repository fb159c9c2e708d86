from bench.cli import app
from tagstream.cli.app import run_cli

run_cli(app)
