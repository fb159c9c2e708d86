"""The worker's errors, under tagstream's one root error.

`Retryable` is the one class the agent catches to pause and retry a batch (a dependency is away or
slow; nothing is committed meanwhile). Per-event failures are never raised to the agent: they become
that event's dead letter. Anything else stops the worker before a commit (crash-only).
"""

from tagstream.core.errors import TagstreamError


class WorkerError(TagstreamError):
    """Root of the worker's errors."""


class ServerUnreachable(WorkerError):
    """A server (broker, Redis, Triton) did not answer at start; the message says which and why."""


class BrokerUnreachable(ServerUnreachable):
    """The Kafka broker did not answer, or a setting keeps the client from talking to it (TLS)."""


class Retryable(WorkerError):
    """A dependency is unavailable or too slow right now: pause, then retry the same batch."""


class TritonClientError(WorkerError):
    """Base of the inference client's errors (mapped once from tritonclient's exceptions)."""


class TritonTimeout(TritonClientError, Retryable):
    """The request did not complete within its deadline."""


class ModelUnavailable(TritonClientError, Retryable):
    """The server or the model is not reachable or not ready."""


class QueueFull(TritonClientError, Retryable):
    """The model's request queue is full (load shedding): back off and retry."""


class BadInput(TritonClientError):
    """The server rejected the request's input (not retryable: isolate the item)."""


class ServerError(TritonClientError):
    """Any other server-side failure (not retryable: isolate the item)."""
