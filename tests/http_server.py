"""A local HTTP server for tests: speaks the Messages and Chat Completions APIs and serves slow endpoints.

Scripted per test: `server.script("/v1/messages", [(429, {...}), (200, {...})])` answers in order.
`server.gate(path, wait)` holds a path's requests until `wait()` returns (a barrier, another path's answer);
one that raises (a broken barrier, a timeout) is answered 504.
"""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class LocalServer:
    def __init__(self, keep_alive: bool = False):
        self.keep_alive = keep_alive  # HTTP/1.1 connections a client can reuse, as a provider's are
        self.scripts: dict[str, list] = {}
        self.requests: list[dict] = []
        self.busy_seconds = 0.0  # the server's own time, from reading a request to writing its answer
        self.gates: dict[str, Callable[[], object]] = {}
        self._answered: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def script(self, path: str, answers: list) -> None:
        """answers: (status, body) or (status, body, delay_seconds) or (status, body, delay, headers)."""
        with self.lock:
            self.scripts[path] = list(answers)

    def gate(self, path: str, wait: Callable[[], object]) -> None:
        with self.lock:
            self.gates[path] = wait

    def answered(self, path: str) -> threading.Event:
        """Set once `path` has sent a scripted answer."""
        with self.lock:
            return self._answered.setdefault(path, threading.Event())

    def _next(self, path):
        with self.lock:
            answers = self.scripts.get(path)
            if answers:
                return answers.pop(0) if len(answers) > 1 else answers[0]
        return None

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if server.keep_alive else "HTTP/1.0"
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart (delayed ACK)

            def log_message(self, *args):
                pass

            def parse_request(self):
                self.began = time.monotonic()  # the server's own time starts with parsing the request
                return super().parse_request()

            def _answer(self):
                parsed = urlparse(self.path)
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with server.lock:
                    server.requests.append(
                        {
                            "method": self.command,
                            "path": parsed.path,
                            "query": parsed.query,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body.decode() if body else "",
                            "at": time.monotonic(),
                        }
                    )
                gate = server.gates.get(parsed.path)
                if gate is not None:
                    try:
                        gate()
                    except Exception as exc:
                        return self._send(504, {"error": f"gate of {parsed.path}: {exc!r}"})
                if parsed.path == "/slow":
                    time.sleep(float(parse_qs(parsed.query).get("s", ["0.3"])[0]))
                    return self._send(200, {"ok": True, "slept": True})
                if parsed.path == "/trickle":  # `n` bytes, one every `every` seconds, no Content-Length
                    query = parse_qs(parsed.query)
                    return self._trickle(int(query.get("n", ["10"])[0]), float(query.get("every", ["0.1"])[0]))
                if parsed.path == "/big":  # `bytes` bytes of JSON text, with a Content-Length unless length=0
                    query = parse_qs(parsed.query)
                    size, declared = int(query.get("bytes", ["1000"])[0]), query.get("length", ["1"])[0] == "1"
                    return self._big(size, declared)
                answer = server._next(parsed.path)
                if answer is None:
                    return self._send(404, {"error": "no script for " + parsed.path})
                status, payload, *rest = answer
                delay = rest[0] if rest else 0
                headers = rest[1] if len(rest) > 1 else {}
                if delay:
                    time.sleep(delay)
                self._send(status, payload, headers)
                server.answered(parsed.path).set()

            def _send(self, status, payload, headers=None):
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                    with server.lock:
                        server.busy_seconds += time.monotonic() - self.began
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _trickle(self, count, every):
                def bytes_slowly():
                    for _ in range(count):
                        yield b"x"
                        time.sleep(every)

                self._stream(bytes_slowly(), None)

            def _big(self, size, declared):
                chunks = (b"x" * min(65536, size - start) for start in range(0, size, 65536))
                self._stream(chunks, size if declared else None)

            def _stream(self, chunks, length):
                """A text answer written chunk by chunk, each flushed, with a Content-Length when `length` is given."""
                self.close_connection = True
                try:
                    self.send_response(200)
                    self.send_header("content-type", "text/plain")
                    if length is not None:
                        self.send_header("content-length", str(length))
                    self.end_headers()
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _answer

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
