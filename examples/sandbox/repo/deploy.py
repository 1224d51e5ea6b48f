"""Deploy this checkout of the sandbox: write its release and commit where the service reads them.

Usage (from the repository, as the runbook's steps run it): `python deploy.py DEPLOY_DIR`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    release = Path("release.txt").read_text().strip()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    (target / "release.json.tmp").write_text(json.dumps({"release": release, "commit": commit}))
    (target / "release.json.tmp").replace(target / "release.json")
    print(f"deployed {release} release {commit[:12]} to {target}")
