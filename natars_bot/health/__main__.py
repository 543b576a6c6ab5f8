"""`python -m natars_bot.health`: the container's health check (exit 0 when healthy)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

from natars_bot.health.monitor import HealthSettings


def probe(settings: HealthSettings | None = None, timeout: float = 5.0) -> int:
    """The health check: 0 when `/healthz` answers 200, else 1 (problems on stderr)."""
    settings = settings or HealthSettings()
    host = settings.health_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere: ask on loopback
    url = f"http://{host}:{settings.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 0 if answer.status == 200 else 1
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        try:
            problems = json.loads(body).get("problems", [])
        except (ValueError, AttributeError):
            problems = [body[:200]]
        print(f"unhealthy: {'; '.join(map(str, problems))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"no answer from {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(probe())
