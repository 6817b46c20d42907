#!/usr/bin/env python3
"""Register a host with a netmon server through its REST API, from any machine.

Standard library only, so that it runs where netmon is not installed (an admin's
laptop, a configuration-management run). It needs an API key with write access
(``manage.py create_api_key --name NAME --access write``), best given in
``NETMON_API_KEY``: a key on the command line shows in the process list.

    NETMON_API_KEY=nmk_... python3 scripts/add-host.py --url http://monitor:8080 \\
        --name "Web Server 01" --host-id web01 --frequency 300 --schedule always

It prints the host's token (shown once: the server keeps only a hash) and the server's
client setup for it (download, test, cron line, systemd timer). The server checks every
field; a refusal is printed field by field, with the option that sets it, and the exit
status is 1 (2 for a usage error).
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 30
# API field → the option that sets it, to name both in error messages.
OPTIONS = {
    "host_id": "--host-id",
    "name": "--name",
    "frequency_seconds": "--frequency",
    "grace_seconds": "--grace",
    "schedule_type": "--schedule",
    "cron_expression": "--cron",
    "timezone": "--timezone",
    "max_run_seconds": "--max-run-seconds",
    "notes": "--notes",
    "tags": "--tag",
    "paused": "--paused",
}


class Refused(Exception):
    """The host was not created; the message says why, without the API key."""


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would resend the API key to wherever it points, and turn the POST into a
    GET: refuse it and say where it pointed instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise Refused(
            f"The server answered {code} with a redirect to {newurl}: "
            "pass that address (without /api/v1/hosts) as --url."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser()
    args = parser.parse_args(argv)
    api_key = args.api_key or os.environ.get("NETMON_API_KEY", "").strip()
    if not api_key:
        parser.error(
            "an API key with write access is needed: set NETMON_API_KEY (or pass --api-key); "
            "make one with `manage.py create_api_key --name NAME --access write`"
        )
    base_url = args.url.rstrip("/")
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        parser.error("--url must be the server's address, starting with http:// or https://")
    try:
        host = create_host(base_url, api_key, host_fields(args))
    except Refused as refusal:
        print(refusal, file=sys.stderr)
        return 1
    state = "paused" if host.get("paused") else "waiting for its first heartbeat"
    print(f"Created host {host['host_id']} ({state}).")
    print(f"\nToken: {host['token']}")
    print("Store it now: it is shown only once.\n")
    # The server's own setup text, as manage.py add_host prints it, on its NETMON_BASE_URL.
    print(host["client_setup"], end="")
    return 0


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Register a host with a netmon server through its REST API.",
        epilog="Defaults not given here are the server's (e.g. grace, time zone).",
    )
    parser.add_argument("--name", required=True, help="e.g. 'Web Server 01'")
    parser.add_argument("--host-id", required=True, help="e.g. web01")
    parser.add_argument("--frequency", type=int, help="seconds between heartbeats")
    parser.add_argument(
        "--grace", type=int, help="seconds a heartbeat may be late before the host is down"
    )
    parser.add_argument(
        "--schedule",
        help="always, business_hours (heartbeats expected in business hours only) or "
        "custom (at the fire times of --cron)",
    )
    parser.add_argument("--cron", help="5-field cron expression of a custom schedule")
    parser.add_argument("--timezone", help="IANA time zone of the schedule, e.g. Europe/Berlin")
    parser.add_argument(
        "--max-run-seconds", type=int, help="a job run taking longer than this is alerted"
    )
    parser.add_argument("--notes")
    parser.add_argument("--tag", action="append", help="repeat for more tags")
    parser.add_argument("--paused", action="store_true", help="create the host paused")
    parser.add_argument(
        "--url",
        default=os.environ.get("NETMON_URL", DEFAULT_URL),
        help="the netmon server, as its clients reach it (default: NETMON_URL or %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        help="API key with write access (default: NETMON_API_KEY; prefer it: an option "
        "shows in the process list)",
    )
    return parser


def host_fields(args: argparse.Namespace) -> dict:
    """The JSON body of POST /api/v1/hosts: only what was given, the server fills in the rest."""
    values = {
        "host_id": args.host_id,
        "name": args.name,
        "frequency_seconds": args.frequency,
        "grace_seconds": args.grace,
        "schedule_type": args.schedule,
        "cron_expression": args.cron,
        "timezone": args.timezone,
        "max_run_seconds": args.max_run_seconds,
        "notes": args.notes,
        "tags": args.tag,
        "paused": args.paused or None,
    }
    return {name: value for name, value in values.items() if value is not None}


def create_host(base_url: str, api_key: str, fields: dict) -> dict:
    """The created host as the API answers it (with its token), or Refused saying why."""
    endpoint = f"{base_url}/api/v1/hosts"
    request = urllib.request.Request(
        endpoint,
        data=json.dumps(fields).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        },
    )
    opener = urllib.request.build_opener(NoRedirects)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        raise Refused(describe_refusal(error.code, error.read(), endpoint)) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise Refused(f"Cannot reach netmon at {base_url}: {reason}") from None
    try:
        host = json.loads(body)
    except ValueError:
        host = None
    if not isinstance(host, dict) or not {"host_id", "token"} <= host.keys():
        raise Refused(f"{endpoint} did not answer as netmon does: is --url right?")
    return host


def describe_refusal(status: int, body: bytes, endpoint: str) -> str:
    """What the server's error answer says, field by field with the option that sets it."""
    try:
        errors = json.loads(body)
    except ValueError:
        errors = None
    if not isinstance(errors, dict):
        if status == 404:
            return f"{endpoint} does not exist (404): is --url the netmon server?"
        return f"The server answered {status} at {endpoint}; nothing was created."
    if status == 400:
        lines = ["Invalid host, nothing was created:"]
        for name, messages in errors.items():
            label = "" if name == "non_field_errors" else f"{name} ({OPTIONS.get(name, name)}): "
            lines += [f"  {label}{message}" for message in as_messages(messages)]
        return "\n".join(lines)
    detail = " ".join(as_messages(errors.get("detail", errors)))
    if status == 401:
        return f"The server refused the API key (401): {detail}"
    if status == 403:
        return (
            f"The API key may not create hosts (403): {detail}\n"
            "Use a key with write access: manage.py create_api_key --name NAME --access write"
        )
    return f"The server answered {status}: {detail}; nothing was created."


def as_messages(value) -> list[str]:
    """DRF error values are a string, a list of strings or a nested dict: flatten them."""
    if isinstance(value, dict):
        return [f"{key}: {text}" for key, inner in value.items() for text in as_messages(inner)]
    if isinstance(value, list):
        return [text for item in value for text in as_messages(item)]
    return [str(value)]


if __name__ == "__main__":
    sys.exit(main())
