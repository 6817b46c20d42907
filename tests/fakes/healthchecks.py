"""A fake healthchecks.io ping endpoint (hc-ping.com). Every UUID and every slug "exists"."""

from __future__ import annotations

import re

from .recorder import RecordingServer, Reply, Request

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# /<uuid>[/<action>] or /<ping-key>/<slug>[/<action>], optionally below /ping (self-hosted).
# A UUID-shaped first segment is never a ping key, so /<uuid>/bogus is a 404 as on the real site.
PING_PATH = re.compile(
    rf"^(?:/ping)?/(?:(?P<uuid>{UUID_RE})|(?!{UUID_RE}/)(?P<key>[A-Za-z0-9_-]+)/(?P<slug>[a-z0-9_-]+))"
    r"(?:/(?P<action>start|fail|log|\d+))?/?$"
)
BODY_LIMIT = 100_000


def ping_kind(path: str) -> str | None:
    """ "success", "start", "fail", "log", an exit status ("0".."255"); None if not a ping URL."""
    match = PING_PATH.match(path)
    if match is None:
        return None
    action = match["action"] or "success"
    return str(int(action)) if action.isdigit() else action


class FakeHealthchecks(RecordingServer):
    """healthchecks.io pinging API; answers 200 "OK", 404 "not found", 400 for bad input."""

    @property
    def ping_url(self) -> str:
        return f"{self.url}/5f4d6e1a-2b3c-4d5e-8f90-123456789abc"

    @property
    def pings(self) -> list[tuple[str, str]]:
        """``(kind, body_text)`` of every accepted ping, in arrival order."""
        result = []
        for request in list(self.requests):
            kind = ping_kind(request.path)
            if kind is not None and request.reply is not None and request.reply.status == 200:
                result.append((kind, request.text))
        return result

    def respond(self, request: Request) -> Reply:
        scripted = self._take_queued()
        if scripted is not None:
            return scripted
        kind = ping_kind(request.path)
        if kind is None:
            return Reply(404, "not found")
        if request.method not in ("GET", "HEAD", "POST"):
            return Reply(405, "method not allowed")
        if kind.isdigit() and int(kind) > 255:
            return Reply(400, "invalid url format")
        rid = request.query.get("rid", [None])[-1]
        if rid is not None and not re.fullmatch(UUID_RE, rid.lower()):
            return Reply(400, "invalid uuid format")
        if len(request.body) > BODY_LIMIT:
            return Reply(400, "request body too large")
        headers = {"Ping-Body-Limit": str(BODY_LIMIT), "Access-Control-Allow-Origin": "*"}
        return Reply(200, "OK", headers)
