"""The sandbox service: a tiny HTTP service whose golden path is as healthy as the release deployed.

`GET /health/golden-path` answers the manual's metrics as JSON, from the release the deploy script
last wrote into the deploy folder (`release.json`): a good release is healthy (0.99), a bad one
breaks the golden path (0.87). Run: `python app.py --port 8080 --deploy-dir /tmp/sandbox-live`.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HEALTH = {
    "good": {"success_rate": 0.99, "login_success_rate": 0.999, "websocket_connection_rate": 0.998},
    "bad": {"success_rate": 0.87, "login_success_rate": 0.995, "websocket_connection_rate": 0.97},
}


def health(deploy_dir: Path) -> dict[str, object]:
    """The golden path's metrics for whatever is deployed now."""
    try:
        deployed = json.loads((deploy_dir / "release.json").read_text())
    except (OSError, ValueError):
        return {"success_rate": 0.0, "error": "nothing deployed"}
    return {**HEALTH.get(deployed.get("release"), HEALTH["bad"]), "commit": deployed.get("commit")}


def serve(port: int, deploy_dir: Path) -> None:
    """Serve until killed."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path != "/health/golden-path":
                self.send_error(404)
                return
            body = json.dumps(health(deploy_dir)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deploy-dir", type=Path, required=True)
    options = parser.parse_args()
    serve(options.port, options.deploy_dir)
