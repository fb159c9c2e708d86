"""Errors of the local stack, under tagstream's one root error."""

from tagstream.core.errors import TagstreamError


class StackError(TagstreamError):
    """A local server could not be started, or did not become ready in time."""
