"""Errors of the serving and streaming side, under tagstream's one root error."""

from tagstream.errors import TagstreamError


class ServingError(TagstreamError):
    """Starting, stopping or talking to the Triton server failed."""


class TritonClientError(ServingError):
    """Base of the inference client's errors."""


class TritonTimeout(TritonClientError):
    """The request did not complete within its deadline (retryable)."""


class ModelUnavailable(TritonClientError):
    """The server or the model is not reachable or not ready (retryable)."""


class BadInput(TritonClientError):
    """The server rejected the request's input (not retryable)."""


class ServerError(TritonClientError):
    """Any other server-side failure."""


class ModelLoadError(ServingError):
    """A model version failed to load; the previous version keeps serving."""
