"""Palisade's local AWS: moto's server on a free loopback port, with named extensions.

Started by the test harness (tests/src/lib.rs) and by the examples. Prints the port it listens on as
its first line of stdout, then serves until stdin closes (its parent went away) or it is killed.

Extensions live in ./extensions, one small module per missing AWS operation family; each has an
`install()` that adds methods to moto's response classes and says which moto version it was written
for. Remove an extension when moto gains the operations it adds.
"""

import argparse
import importlib
import os
import pkgutil
import sys
import threading

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


def install_extensions() -> list[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import extensions

    installed = []
    for module in sorted(pkgutil.iter_modules(extensions.__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"extensions.{module.name}")
        loaded.install()
        installed.append(module.name)
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

    installed = install_extensions()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(options.host, options.port, app, threaded=True, request_handler=QuietRequestHandler)
    print(server.server_port, flush=True)
    print(f"moto listening on {options.host}:{server.server_port}; extensions: {installed or 'none'}", file=sys.stderr, flush=True)
    if not options.no_stdin_watch:
        threading.Thread(target=watch_stdin, args=(server,), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
