"""A service through the phases of an outage (500, then 429, then hanging …): any
recording server (``PhasedServer``) or the fake Discord (``PhasedDiscord``).

Phases follow a clock with ``now() -> datetime``: the deliverer's injected clock for
in-process tests, so that skipped waits move the phases on too; the real one for tests
of real processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .discord import FakeDiscord
from .recorder import RecordingServer, Reply, Request


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    reply: Reply | None  # None: answer as the server under the phases does


class PhasedServer(RecordingServer):
    """Answers each request by the phase it arrives in; after the last, as the server
    under it would (``RecordingServer``: its default reply)."""

    def __init__(self, clock: Clock, phases: list[Phase], **server_args) -> None:
        super().__init__(**server_args)
        self.clock = clock
        self.phases = phases
        self.started = clock.now()
        self.arrivals: list[tuple[float, str]] = []  # (seconds since start, phase) per request

    def begin(self) -> None:
        """Start the first phase now (instead of at creation)."""
        self.started = self.clock.now()
        self.arrivals.clear()

    def phase_start(self, name: str) -> float:
        """Seconds from the start to phase ``name``; "recovered" is the end of the last."""
        elapsed = 0.0
        for phase in self.phases:
            if phase.name == name:
                return elapsed
            elapsed += phase.seconds
        if name == "recovered":
            return elapsed
        raise KeyError(name)

    def respond(self, request: Request) -> Reply:
        at = (self.clock.now() - self.started).total_seconds()
        ends = 0.0
        for phase in self.phases:
            ends += phase.seconds
            if at < ends:
                self.arrivals.append((at, phase.name))
                return phase.reply or super().respond(request)
        self.arrivals.append((at, "recovered"))
        return super().respond(request)

    def times(self, phase: str) -> list[float]:
        """When the requests of ``phase`` arrived, in seconds since the start."""
        return [at for at, name in self.arrivals if name == phase]


class PhasedDiscord(PhasedServer, FakeDiscord):
    """The fake Discord through the phases; after the last, it answers as Discord does."""

    @property
    def accepted_titles(self) -> list[str]:
        """Titles of the embeds accepted (a hanging request was never answered)."""
        accepted = [r for r in self.requests if r.reply.status == 204 and not r.reply.hang]
        return [embed["title"] for r in accepted for embed in r.json()["embeds"]]
