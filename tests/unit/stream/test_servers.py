"""The start-up check names the server that does not answer, its address and its variable, after the
start-up timeout (here nothing listens on the ports, and the timeout is short)."""

import time

from tagstream.localstack.ports import free_port
from tagstream.stream.servers import _redis_problem, _triton_problem
from tagstream.stream.settings import WorkerSettings


async def test_redis_that_does_not_answer_is_named_without_its_password():
    port = free_port()
    s = WorkerSettings(redis_url=f"redis://:s3cret@127.0.0.1:{port}/0")
    t0 = time.monotonic()
    problem = await _redis_problem(s, timeout_s=1.0)
    assert problem is not None and time.monotonic() - t0 < 10
    assert problem.startswith(f"cannot reach Redis at redis://127.0.0.1:{port} (TAGSTREAM_REDIS_URL)"), problem
    assert "tried for 1 s" in problem and "s3cret" not in problem


async def test_triton_that_does_not_answer_is_named():
    port = free_port()
    problem = await _triton_problem(WorkerSettings(triton_url=f"127.0.0.1:{port}", triton_timeout_s=1), timeout_s=1.0)
    assert problem is not None
    assert problem.startswith(f"cannot reach Triton at 127.0.0.1:{port} (TAGSTREAM_TRITON_URL, gRPC)"), problem
    assert "\n" not in problem
