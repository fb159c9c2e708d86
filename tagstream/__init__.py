"""tagstream: real-time multi-label product tagging.

One import root, in layers (each imports only those below it; `make check` enforces this):

- `tagstream.cli`: the `tagstream` command line;
- `tagstream.demo`: the whole system on one machine;
- `tagstream.localstack` (broker, Redis, Triton and worker processes for the demo, tests and
  benchmarks) and `tagstream.clients` (producer, subscriber, model publishing);
- `tagstream.stream` (the worker; repository folder `stream/`) and `tagstream.trainer` (the trainer;
  folder `trainer/`), which never import each other;
- `tagstream.core`: the contracts both sides share.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tagstream")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"
