import pytest
from tritonclient.utils import InferenceServerException

from tagstream.stream.errors import BadInput, ModelUnavailable, QueueFull, Retryable, ServerError, TritonTimeout
from tagstream.stream.triton_client import classify_error


@pytest.mark.parametrize(
    "status,msg,cls,retryable",
    [
        ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", TritonTimeout, True),
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", ModelUnavailable, True),
        ("StatusCode.NOT_FOUND", "Request for unknown model: 'x' is not found", ModelUnavailable, True),
        ("StatusCode.UNAVAILABLE", "Exceeds maximum queue size", QueueFull, True),
        ("StatusCode.INVALID_ARGUMENT", "expected 1 string elements", BadInput, False),
        ("StatusCode.INTERNAL", "bad input: TEXT[0] is not valid UTF-8", BadInput, False),
        ("StatusCode.INTERNAL", "inference failed: boom", ServerError, False),
    ],
)
def test_classify(status, msg, cls, retryable):
    err = classify_error(InferenceServerException(msg=msg, status=status))
    assert isinstance(err, cls)
    assert isinstance(err, Retryable) is retryable
