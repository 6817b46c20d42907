"""Real local HTTP servers (127.0.0.1, free port) standing in for third-party services."""

from .discord import FakeDiscord
from .healthchecks import FakeHealthchecks
from .llm import FakeLLM, ProviderReply
from .recorder import RecordingServer, Reply, Request

__all__ = [
    "FakeDiscord",
    "FakeHealthchecks",
    "FakeLLM",
    "ProviderReply",
    "RecordingServer",
    "Reply",
    "Request",
]
