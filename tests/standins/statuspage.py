"""An HTTPS Atlassian Statuspage (REST v1) stand-in on a loopback port: creates and updates
incidents, checks `Authorization: OAuth <key>`, and can answer 422 for the next requests.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import trustme

from tests.standins.server import HttpsStandIn

API_KEY, PAGE_ID = "statuspage-key-0000", "pg0000test"


@dataclass
class StatuspageStandIn(HttpsStandIn):
    ca: trustme.CA
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._serve_tls()

    def reset(self) -> None:
        with self._lock:
            self.incidents.clear()
            self.requests.clear()
            self.fail_next.clear()

    def _answer(self, method: str, path: str, auth: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append((method, path, body))
            if auth != f"OAuth {API_KEY}":
                return 401, {"error": "unauthorized"}
            if self.fail_next:
                return self.fail_next.pop(0), {"error": "Validation failed: stand-in refused it"}
            prefix = f"/v1/pages/{PAGE_ID}/incidents"
            fields = body.get("incident") or {}
            if method == "POST" and path == prefix:
                incident_id = f"inc{next(self._ids):04d}"
                self.incidents[incident_id] = {"id": incident_id, "shortlink": f"https://stspg.io/{incident_id}",
                                               **fields}  # fmt: skip
                return 201, self.incidents[incident_id]
            if method == "PATCH" and path.startswith(prefix + "/"):
                incident_id = path.rsplit("/", 1)[1]
                if incident_id not in self.incidents:
                    return 404, {"error": "not found"}
                self.incidents[incident_id].update(fields)
                return 200, self.incidents[incident_id]
        return 404, {"error": f"stand-in has no {method} {path}"}
