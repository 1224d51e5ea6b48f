"""An HTTPS GitHub REST API stand-in on a loopback port: issue comments on the issues it knows
(`POST /repos/{owner}/{repo}/issues/{n}/comments`), 404 for the others; checks the bearer token.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import trustme

from tests.standins.server import HttpsStandIn

TOKEN = "ghp_test0000000000000000000000000000"


@dataclass
class GitHubStandIn(HttpsStandIn):
    ca: trustme.CA
    issues: set[str] = field(default_factory=lambda: {"acme/app#234"})
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._serve_tls()

    def _answer(self, method: str, path: str, auth: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method != "POST":
            return 405, {"message": "Not Found"}
        if auth != f"Bearer {TOKEN}":
            return 401, {"message": "Bad credentials"}
        parts = path.strip("/").split("/")
        if len(parts) != 6 or parts[0] != "repos" or parts[3] != "issues" or parts[5] != "comments":
            return 404, {"message": "Not Found"}
        issue = f"{parts[1]}/{parts[2]}#{parts[4]}"
        with self._lock:
            if issue not in self.issues:
                return 404, {"message": "Not Found"}
            comments = self.comments.setdefault(issue, [])
            comment = {"id": len(comments) + 1, "body": body.get("body"),
                       "html_url": f"https://github.example/{parts[1]}/{parts[2]}/issues/{parts[4]}#c{len(comments) + 1}"}  # fmt: skip
            comments.append(comment)
        return 201, comment
