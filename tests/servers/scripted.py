"""A loopback HTTP server that answers from a script: each request takes the next
``(status, body, headers)`` (or ``("hang", seconds)`` to reply too late, or a callable that builds
the reply from the request), and every request is recorded (method, path, query, body)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


class ScriptedServer:
    def __init__(self, script: list | None = None, default: Callable | tuple | None = None):
        self.script = list(script or [])
        self.default = default
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = {
                    "method": self.command,
                    "path": parts.path,
                    "query": dict(parse_qsl(parts.query)),
                    "body": body,
                    "headers": dict(self.headers),
                }
                with server.lock:
                    server.requests.append(request)
                    step = server.script.pop(0) if server.script else server.default
                if callable(step):
                    step = step(request)
                if step is None:
                    step = (500, b"no script left")
                if step[0] == "hang":
                    time.sleep(step[1])
                    step = (504, b"")
                status, payload = step[0], step[1]
                headers = step[2] if len(step) > 2 else {}
                if not isinstance(payload, bytes):
                    payload = json.dumps(payload).encode()
                declared = headers.pop("X-Declared-Length", None)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(declared or len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                    if declared:
                        self.close_connection = True
                except OSError:
                    pass

            do_GET = _serve
            do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.url

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
