"""The local Triton counts as ready only when every endpoint answers (tritonserver starts its metrics
server after HTTP): stand-in listeners on free ports, no tritonserver needed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tagstream.localstack.ports import free_port
from tagstream.localstack.triton import TritonPorts, TritonServer


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def _http(port: int) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _tcp(port: int) -> Iterator[None]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        yield


def test_ready_needs_http_metrics_and_grpc(tmp_path):
    ports = TritonPorts(free_port(), free_port(), free_port())
    server = TritonServer(tmp_path, tmp_path, ports=ports)
    assert not server.ready()
    with _http(ports.http):
        assert not server.ready()  # HTTP live, metrics and gRPC not yet (how `serve` said ready too early)
        with _http(ports.metrics):
            assert not server.ready()  # gRPC not listening
            with _tcp(ports.grpc):
                assert server.ready()
        with _tcp(ports.grpc):
            assert not server.ready()  # metrics refused
