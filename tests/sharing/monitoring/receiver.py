"""A local webhook receiver for the tests: records what it is sent, answers what the test tells it to."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    url: str
    # Given the number of requests received so far (from 0) and the webhook-id: (status, extra headers).
    answer: Callable[[int, str], tuple[int, dict[str, str]]] = lambda n, message_id: (200, {})
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delivered_ids(self) -> list[str]:
        """webhook-id of every request answered 2xx, in order."""
        with self.lock:
            return [r.headers["webhook-id"] for r in self.received if 200 <= r.status < 300]


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if state.delay:
                time.sleep(state.delay)
            with state.lock:
                number = len(state.received)
                status, extra = state.answer(number, self.headers.get("webhook-id", ""))
                state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body, status))
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    settings.RISKSHARE_WEBHOOK_ALLOW_HOSTS = frozenset({"127.0.0.1"})
    settings.RISKSHARE_WEBHOOK_SCHEDULE_SCALE = 0.00001
    yield state
    server.shutdown()
    server.server_close()
