"""Palisade's local AWS: moto's server on a free loopback port, with named extensions.

Started by the test harness (tests/src/lib.rs) and by the examples. Prints the port it listens on as
its first line of stdout, then serves until stdin closes (its parent went away) or it is killed.

Extensions live in ./extensions, one small module per missing AWS operation family; each has an
`install()` that adds methods to moto's response classes and says which moto version it was written
for. Remove an extension when moto gains the operations it adds.
"""

import argparse
import importlib
import io
import json
import os
import pkgutil
import random
import sys
import threading
import urllib.parse

# Must be set before moto is imported: IAM's AWS-managed policies exist, as they do in AWS.
os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")

from werkzeug.serving import make_server  # noqa: E402

from moto.moto_server.werkzeug_app import (  # noqa: E402
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


class QuietRequestHandler(MotoRequestHandler):
    """Logs requests only when PALISADE_EMULATOR_VERBOSE is set: test output stays readable."""

    def log_request(self, *args, **kwargs):
        if os.environ.get("PALISADE_EMULATOR_VERBOSE"):
            super().log_request(*args, **kwargs)


# Actions that change something, by the prefix of their name (query and JSON protocols).
MUTATING_PREFIXES = (
    "Create", "Delete", "Put", "Update", "Modify", "Attach", "Detach", "Associate", "Disassociate",
    "Authorize", "Revoke", "Tag", "Untag", "Enable", "Disable", "Schedule", "Cancel", "Replace",
    "Allocate", "Release", "Add", "Remove", "Set", "Reset", "Start", "Stop", "Register", "Deregister",
)


def describe(environ) -> dict:
    """The request journal's entry for an AWS request: `{"call": "ec2:CreateVpc", "mutating": true}`
    (see `RequestJournal`). Reads the body and puts it back, so the request can still be served."""
    path = environ.get("PATH_INFO", "")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    action = target.split(".")[-1] if target else ""
    if not action:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        urlencoded = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        form = urllib.parse.parse_qs(raw.decode("utf-8", "replace")) if urlencoded else {}
        action = (form.get("Action") or query.get("Action") or [""])[0]
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    service = authorization.split("/")[3] if authorization.count("/") >= 4 else "?"
    if not action and path.startswith("/endpoints/") and path.endswith("/invocations"):
        action = "InvokeEndpoint"  # sagemaker-runtime's REST call: runs the model, changes nothing
    if action:
        return {"call": f"{service}:{action}", "mutating": action.startswith(MUTATING_PREFIXES)}
    method = environ["REQUEST_METHOD"]
    query = environ.get("QUERY_STRING", "")
    return {"call": f"{service}:{method} {path}?{query}", "mutating": method in ("PUT", "POST", "DELETE")}


class RequestJournal:
    """Extension `request_journal`: remembers every AWS request the emulator served, so that a test
    can prove a run changed nothing. `GET /_palisade/requests` lists them (JSON); `DELETE` clears.

    Each entry is `"<account-less service call>"`: the action of query and JSON protocol requests
    (`ec2:CreateVpc`, `sagemaker:DescribeEndpoint`), or `s3:<METHOD> <path>?<query>` for S3's REST
    calls, with `mutating` telling whether it changes anything."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.entries = []

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_palisade/requests":
            with self.lock:
                if environ["REQUEST_METHOD"] == "DELETE":
                    self.entries.clear()
                body = json.dumps(self.entries).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        entry = describe(environ)
        if not path.startswith("/moto-api"):
            with self.lock:
                self.entries.append(entry)
        return self.app(environ, start_response)


class Throttle:
    """Extension `throttle`: answers a share of AWS calls with AWS's throttling error, in the shape of
    each protocol, before they reach moto (a throttled call changes nothing, as on AWS):

    - JSON protocol (SageMaker, KMS): HTTP 400, `{"__type": "ThrottlingException", ...}`;
    - EC2's query protocol: HTTP 503, `<Response><Errors><Error><Code>RequestLimitExceeded</Code>`;
    - the other query protocols (IAM, STS): HTTP 400, `<ErrorResponse><Error><Code>Throttling</Code>`;
    - S3's REST protocol: HTTP 503, `<Error><Code>SlowDown</Code>`;
    - SageMaker Runtime's REST-JSON protocol: HTTP 400, header `x-amzn-ErrorType: ThrottlingException`.

    The share starts at `PALISADE_THROTTLE` (0 to 1; default 0) and can be changed at run time:
    `PUT /_palisade/throttle` with `{"share": 0.3}`; `GET` answers the share and how many calls were
    throttled and let through. `PALISADE_THROTTLE_SEED` makes the choice repeatable."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.share = float(os.environ.get("PALISADE_THROTTLE") or 0)
        self.random = random.Random(os.environ.get("PALISADE_THROTTLE_SEED"))
        self.throttled = 0
        self.passed = 0

    def stats(self) -> bytes:
        return json.dumps({"share": self.share, "throttled": self.throttled, "passed": self.passed}).encode()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_palisade/throttle":
            with self.lock:
                if environ["REQUEST_METHOD"] == "PUT":
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                    asked = json.loads(environ["wsgi.input"].read(length) or b"{}")
                    body = self.stats()  # the counts of the period that ends
                    self.share = float(asked.get("share", 0))
                    self.throttled = self.passed = 0
                else:
                    body = self.stats()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path.startswith(("/_palisade", "/moto-api")):
            return self.app(environ, start_response)
        with self.lock:
            throttle = self.share > 0 and self.random.random() < self.share
            if throttle:
                self.throttled += 1
            else:
                self.passed += 1
        if not throttle:
            return self.app(environ, start_response)
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        service = authorization.split("/")[3] if authorization.count("/") >= 4 else "?"
        status, content_type, body, *extra = self.error(environ, service)
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        for more in extra:
            headers.extend(more)
        start_response(status, headers)
        return [body]

    @staticmethod
    def error(environ, service: str) -> tuple:
        request_id = "palisade-throttle"
        if environ.get("HTTP_X_AMZ_TARGET"):
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            return "400 Bad Request", "application/x-amz-json-1.1", body.encode()
        if service == "sagemaker":
            # SageMaker Runtime (InvokeEndpoint) speaks REST-JSON: the code travels in a header.
            body = json.dumps({"message": "Rate exceeded"})
            return "400 Bad Request", "application/json", body.encode(), [("x-amzn-ErrorType", "ThrottlingException")]
        if service == "s3":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                f"<Message>Please reduce your request rate.</Message><RequestId>{request_id}</RequestId></Error>"
            )
            return "503 Slow Down", "application/xml", body.encode()
        if service == "ec2":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
                "<Message>Request limit exceeded.</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            )
            return "503 Service Unavailable", "text/xml", body.encode()
        body = (
            "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return "400 Bad Request", "text/xml", body.encode()


def install_extensions() -> list:
    """Installs every extension; returns the modules. A module may also define `middleware(app,
    describe)`, which wraps the server's application (inside the throttle, outside the journal)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import extensions

    installed = []
    for module in sorted(pkgutil.iter_modules(extensions.__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"extensions.{module.name}")
        loaded.install()
        installed.append(loaded)
    return installed


def watch_stdin(server) -> None:
    """Stops the server when the parent closes our stdin."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--no-stdin-watch", action="store_true", help="keep serving when stdin closes")
    options = parser.parse_args()

    extensions = install_extensions()
    installed = [m.__name__.split(".")[-1] for m in extensions] + ["request_journal", "throttle"]
    app = RequestJournal(DomainDispatcherApplication(create_backend_app))
    for extension in extensions:
        if hasattr(extension, "middleware"):
            app = extension.middleware(app, describe)
    app = Throttle(app)
    server = make_server(options.host, options.port, app, threaded=True, request_handler=QuietRequestHandler)
    print(server.server_port, flush=True)
    print(f"moto listening on {options.host}:{server.server_port}; extensions: {installed}", file=sys.stderr, flush=True)
    if not options.no_stdin_watch:
        threading.Thread(target=watch_stdin, args=(server,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
