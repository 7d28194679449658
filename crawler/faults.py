"""A test-only crash hook: ``CRAWLER_FAULT=<point>:<n>`` kills the process with SIGKILL the
n-th time the named point is reached (e.g. ``after_member_write:3``).

Production never sets the variable, so every call is a cheap no-op. Points in use:
``after_member_write``, ``mid_member_write``, ``before_frontier_commit``, ``during_rotation``,
``before_index`` (a WARC file closed, its CDXJ index not yet written), ``peers_started`` (peer
processes launched, still starting up). ``raise_in_process`` is not a kill: the pipeline raises
an unexpected exception there (``reached``), to test the per-URL last guard.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class FaultInjector:
    point: str | None = None
    at_count: int = 0
    _seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FaultInjector:
        spec = (environ if environ is not None else os.environ).get("CRAWLER_FAULT", "")
        point, _, count = spec.partition(":")
        if not point:
            return cls()
        return cls(point=point, at_count=int(count or "1"))

    def reached(self, point: str) -> bool:
        """Count a visit to ``point``; True when this visit is the one to fail at."""
        if self.point != point:
            return False
        self._seen[point] = self._seen.get(point, 0) + 1
        return self._seen[point] == self.at_count

    def hit(self, point: str) -> None:
        """Die here, like a power cut, when the configured fault says so."""
        if self.reached(point):
            os.kill(os.getpid(), signal.SIGKILL)
