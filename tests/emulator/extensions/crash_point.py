"""A crash point: the emulator stops answering at a chosen AWS call, so a test can kill the program there.

Not an AWS operation: a control for the crash test (tests/src/crash.rs, scripts/crash-sweep), which
kills the real program (kill -9) at a point of a deploy chosen by AWS-call count and then checks that
the next run converges. The point is counted in mutating calls, as the request journal marks them.

- `PUT /_palisade/crash-point` with `{"after": N, "call": null, "swallow": false}` arms it, counting
  from zero (with `call`, e.g. `"sagemaker:CreateUserProfile"` or `"s3:CreateBucket"`, only that
  call is counted, so the point does not move with the order of parallel calls):
  once the N-th mutating call has been served and its answer written to the program, every later
  AWS request is held (not served), and so is every answer moto had not yet given back. With
  `"swallow": true` the N-th call is served (AWS did it) but its answer is held too: the program
  never learns of it, the hardest case for adoption.
- `GET /_palisade/crash-point?wait=SECONDS` answers `{"armed", "after", "mutating", "reached",
  "call", "held"}`; with `wait` it first waits (up to SECONDS) until the point is reached, so the
  harness can kill the program at once.
- `DELETE /_palisade/crash-point` disarms and releases what was held: requests held before being
  served are answered with a 503 error and never reach moto, so nothing changes after the point
  (their caller is dead by then); it answers the counts as GET does.

Unarmed, it only passes requests on. It sits inside the throttle and outside the request journal,
so held requests appear in the journal only if they were served.
"""

import json
import threading
import urllib.parse

WRITTEN_FOR = "moto 5.2.5"

CONTROL = "/_palisade/crash-point"


def install():
    """Nothing to add to moto: the crash point is a middleware (see `middleware`)."""


def middleware(app, describe):
    return CrashPoint(app, describe)


class CrashPoint:
    def __init__(self, app, describe):
        self.app = app
        self.describe = describe
        self.cond = threading.Condition()
        self.after = None  # armed when a number
        self.swallow = False
        self.only = None  # count only this call
        self.mutating = 0
        self.stopped = False  # nothing more goes out
        self.reached = False  # the harness may kill now
        self.call = None
        self.held = 0
        self.generation = 0  # bumped on every arm and release, so a held request knows it was let go

    def state(self) -> bytes:
        return json.dumps(
            {
                "armed": self.after is not None,
                "after": self.after,
                "mutating": self.mutating,
                "reached": self.reached,
                "call": self.call,
                "held": self.held,
            }
        ).encode()

    def control(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        with self.cond:
            if method == "PUT":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                asked = json.loads(environ["wsgi.input"].read(length) or b"{}")
                self.after = int(asked["after"])
                self.swallow = bool(asked.get("swallow", False))
                self.only = asked.get("call")
                self.mutating = self.held = 0
                self.stopped = self.reached = False
                self.call = None
                self.generation += 1
                self.cond.notify_all()
            elif method == "DELETE":
                self.after = None
                self.stopped = False
                self.generation += 1
                self.cond.notify_all()
            else:
                query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
                wait = float((query.get("wait") or ["0"])[0])
                if wait > 0:
                    self.cond.wait_for(lambda: self.reached or self.after is None, timeout=wait)
            body = self.state()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def hold(self, generation):
        """Waits (lock held by the caller) until the point is released or re-armed."""
        self.held += 1
        self.cond.wait_for(lambda: self.generation != generation)

    @staticmethod
    def refused(start_response):
        body = b'{"__type": "ServiceUnavailable", "message": "held at the crash point, never served"}'
        start_response("503 Service Unavailable", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == CONTROL:
            return self.control(environ, start_response)
        if path.startswith(("/_palisade", "/moto-api")):
            return self.app(environ, start_response)
        with self.cond:
            if self.after is None:
                armed = False
            elif self.stopped:
                self.hold(self.generation)
                return self.refused(start_response)
            else:
                armed = True
                generation = self.generation
        if not armed:
            return self.app(environ, start_response)

        entry = self.describe(environ)
        answer = {}

        def capture(status, headers, exc_info=None):
            answer["status"], answer["headers"] = status, headers
            return lambda data: answer.setdefault("written", []).append(data)

        served = self.app(environ, capture)
        try:
            chunks = list(served)
        finally:
            if hasattr(served, "close"):
                served.close()
        body = answer.get("written", []) + chunks
        deliver_then_signal = False
        with self.cond:
            if self.generation == generation:
                if self.stopped:
                    # Served, but the point was reached meanwhile: the answer never goes out.
                    self.hold(generation)
                elif entry["mutating"] and self.only in (None, entry["call"], create_name(entry["call"])):
                    self.mutating += 1
                    if self.mutating == self.after:
                        self.call = entry["call"]
                        self.stopped = True
                        if self.swallow:
                            self.reached = True
                            self.cond.notify_all()
                            self.hold(generation)
                        else:
                            deliver_then_signal = True
        start_response(answer["status"], answer["headers"])
        if deliver_then_signal:
            return SignalWhenWritten(body, self)
        return body

    def signal(self):
        with self.cond:
            self.reached = True
            self.cond.notify_all()


def create_name(call: str):
    """`s3:CreateBucket` for S3's `PUT /<bucket>/` with no query (the journal names REST calls by
    method and path); otherwise None."""
    service, _, rest = call.partition(":")
    if service == "s3" and rest.startswith("PUT /") and rest.endswith("/?") and "/" not in rest[5:-2]:
        return "s3:CreateBucket"
    return None


class SignalWhenWritten:
    """An answer that marks the point reached once the server has written it (WSGI calls `close`)."""

    def __init__(self, body, point):
        self.body = body
        self.point = point

    def __iter__(self):
        return iter(self.body)

    def close(self):
        self.point.signal()
