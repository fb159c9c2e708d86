"""Errors of the clients, under tagstream's one root error."""

from tagstream.core.errors import TagstreamError


class ClientError(TagstreamError):
    """Root of the clients' errors."""


class TritonUnreachable(ClientError):
    """Triton's HTTP endpoint did not answer."""


class ModelLoadError(ClientError):
    """A model version failed to load; the previous version keeps serving."""
