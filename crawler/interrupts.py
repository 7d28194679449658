"""SIGINT and SIGTERM as stop requests of a crawl run.

The first signal stops taking work, the second stops at once (the run's ``request_stop`` is
called for each); after the second the default handlers are back, so a third interrupts even
a stuck close.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_stop(request_stop: Callable[[], None], *, enabled: bool = True) -> Iterator[None]:
    """While in the block, each SIGINT/SIGTERM calls ``request_stop`` (twice at most)."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal() -> None:
        nonlocal received
        received += 1
        request_stop()
        if received >= 2:
            _restore(loop)

    for signum in HANDLED:
        loop.add_signal_handler(signum, on_signal)
    try:
        yield
    finally:
        _restore(loop)


def _restore(loop: asyncio.AbstractEventLoop) -> None:
    for signum in HANDLED:
        loop.remove_signal_handler(signum)


__all__ = ["signals_stop"]
