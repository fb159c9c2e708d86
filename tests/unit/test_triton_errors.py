import pytest
from tritonclient.utils import InferenceServerException

from stream.errors import BadInput, ModelUnavailable, ServerError, TritonTimeout
from stream.triton_client import classify_error


@pytest.mark.parametrize("status,msg,cls", [
    ("StatusCode.DEADLINE_EXCEEDED", "Deadline Exceeded", TritonTimeout),
    ("StatusCode.UNAVAILABLE", "failed to connect to all addresses", ModelUnavailable),
    ("StatusCode.NOT_FOUND", "Request for unknown model: 'x' is not found", ModelUnavailable),
    ("StatusCode.INVALID_ARGUMENT", "expected 1 string elements", BadInput),
    ("StatusCode.INTERNAL", "bad input: TEXT[0] is not valid UTF-8", BadInput),
    ("StatusCode.INTERNAL", "inference failed: boom", ServerError),
])
def test_classify(status, msg, cls):
    assert isinstance(classify_error(InferenceServerException(msg=msg, status=status)), cls)
