"""A small HTTP proxy on loopback for the remote-reading tests and benchmarks: it forwards to a real storage
endpoint and injects what real networks do: 503s, connections dropped before or in the middle of a body, and a
fixed delay per request (a round-trip time). Faults follow a fixed schedule, so a run is repeatable."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Faults:
    """Every ``nth`` request gets the fault (0: never); ``delay`` seconds pass before each request is forwarded."""

    status_503: int = 0
    drop_before: int = 0
    drop_mid_body: int = 0
    delay: float = 0.0


class FaultProxy:
    """``FaultProxy(upstream, faults)``; requests to :attr:`endpoint` reach ``upstream`` (``http://host:port``)."""

    def __init__(self, upstream: str, faults: Faults) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults = faults
        self.count = 0
        self.injected = 0
        #: Body bytes sent to clients: what a reader fetched.
        self.bytes = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def do_HEAD(self) -> None:
                proxy._handle(self)

            def do_GET(self) -> None:
                proxy._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint_base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _fault(self, nth: int) -> bool:
        return bool(nth) and self.count % nth == 0

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.count += 1
            drop_before = self._fault(self.faults.drop_before)
            status_503 = not drop_before and self._fault(self.faults.status_503)
            drop_mid = not (drop_before or status_503) and self._fault(self.faults.drop_mid_body)
            self.injected += drop_before or status_503 or drop_mid
        if self.faults.delay:
            time.sleep(self.faults.delay)
        if drop_before:
            handler.close_connection = True
            return
        if status_503:
            body = b"<Error><Code>ServerBusy</Code></Error>"
            handler.send_response(503)
            handler.send_header("x-ms-error-code", "ServerBusy")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":  # a HEAD answer has no body: bytes left behind would be read as the
                handler.wfile.write(body)  # next response on the kept-alive connection (a ProtocolError)
            return
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            upstream.request(handler.command, handler.path, headers=headers)
            response = upstream.getresponse()
            body = response.read()
        finally:
            upstream.close()
        handler.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                handler.send_header(key, value)
        length = len(body) if handler.command != "HEAD" else int(response.getheader("content-length") or 0)
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        if drop_mid and len(body) > 1:
            handler.wfile.write(body[: len(body) // 2])
            handler.close_connection = True
            return
        handler.wfile.write(body)
        with self._lock:
            self.bytes += len(body)

    def reset(self) -> None:
        """Start counting requests and bytes again."""
        with self._lock:
            self.count = self.injected = self.bytes = 0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
