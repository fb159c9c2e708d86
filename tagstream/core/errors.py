"""The root of every error tagstream raises on purpose.

The CLI turns a `TagstreamError` into a one-line message and a non-zero exit code; anything else is a
bug and keeps its traceback. Each part (worker, local stack, clients) adds its own errors under this
root in its own `errors` module.
"""


class TagstreamError(Exception):
    """Base class for errors with a message meant for the user."""


class DataError(TagstreamError):
    """Input data is missing, empty or unusable."""


class ArtifactError(TagstreamError):
    """A model artefact directory is missing files or is inconsistent."""


class ConfigError(TagstreamError):
    """A setting or an option has a value that cannot work."""
