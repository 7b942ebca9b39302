"""Latency: every AWS call waits a fixed time before moto serves it, as a distant region would.

Not an AWS operation: a control for the latency benchmark (tests/benches/latency.rs), which measures
how close a deploy comes to its dependency graph's critical path when each call costs time. The
server is threaded, so calls in flight wait side by side, as on AWS.

- The delay starts at `PALISADE_LATENCY_MS` (default 0).
- `PUT /_palisade/latency` with `{"ms": 50}` changes it; `GET` answers `{"ms", "calls"}` (calls
  delayed since the last change).
"""

import json
import os
import threading
import time

WRITTEN_FOR = "moto 5.2.5"

CONTROL = "/_palisade/latency"


def install():
    """Nothing to add to moto: the latency is a middleware (see `middleware`)."""


def middleware(app, describe):
    return Latency(app)


class Latency:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.ms = float(os.environ.get("PALISADE_LATENCY_MS") or 0)
        self.calls = 0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == CONTROL:
            with self.lock:
                if environ["REQUEST_METHOD"] == "PUT":
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    asked = json.loads(environ["wsgi.input"].read(length) or b"{}")
                    self.ms = float(asked.get("ms", 0))
                    self.calls = 0
                body = json.dumps({"ms": self.ms, "calls": self.calls}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path.startswith(("/_palisade", "/moto-api")):
            return self.app(environ, start_response)
        with self.lock:
            delay = self.ms
            self.calls += 1
        if delay > 0:
            time.sleep(delay / 1000)
        return self.app(environ, start_response)
