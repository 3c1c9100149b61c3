"""A real HTTP receiver on 127.0.0.1 for event webhook tests, in a thread of the test process.

``Receiver().start()`` listens on a free port; ``answers`` is the script of what it answers, one
entry per request (a status code, or ``HANG`` to wait past the sender's time limit), then 200;
or ``judge(received)`` decides the status of each request.
Every request is kept in ``requests`` (path, headers with lower-case names, body bytes).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG = "hang"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, answers=(), *, hang_seconds: float = 2.0) -> None:
        self.answers = list(answers)
        self.hang_seconds = hang_seconds
        self.requests: list[Received] = []
        self.judge = None
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(received)
                    if receiver.judge is not None:
                        answer = receiver.judge(received)
                    else:
                        answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == HANG:
                    time.sleep(receiver.hang_seconds)
                    answer = 200
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
