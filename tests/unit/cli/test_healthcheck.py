"""`tagstream healthcheck` (the worker image's HEALTHCHECK) asks the port TAGSTREAM_WEB_PORT names."""

import http.server
import os
import threading

from tagstream.localstack.ports import free_port
from tests.conftest import tagstream


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_healthcheck_follows_the_web_port_setting():
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Healthz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "TAGSTREAM_WEB_PORT": str(server.server_port)}
        res = tagstream("healthcheck", env=env)
        assert f":{server.server_port}/healthz: 200" in res.stdout
    finally:
        server.shutdown()
    closed = {**os.environ, "TAGSTREAM_WEB_PORT": str(free_port())}
    res = tagstream("healthcheck", "--timeout", "1", env=closed, check=False)
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
