"""The page's server under load from outside: waitress with JSON refusals and connection rules
that idle or trickling clients cannot use to lock the page's own requests out.

- Bodies: waitress refuses a declared body of ``max_request_body_size`` or more before the app
  sees it; that limit is the largest body the app accepts plus ``BODY_HEADROOM``, so that a body
  of exactly the app's limit reaches the app, and a larger one is refused by the app (JSON 413)
  or, beyond the headroom, by waitress, whose refusals are JSON here too.
- Connections: at most ``CONNECTION_LIMIT`` open; a request's headers must arrive within
  ``HEADER_TIMEOUT_S`` of its first byte and its body at ``MIN_BODY_RATE`` on average; a keep-alive
  connection idle for ``IDLE_TIMEOUT_S`` is closed. Once ``CONNECTION_LIMIT - RESERVED``
  connections are open, those that have sent nothing for ``PRESSURE_IDLE_S`` and wait for no
  answer are closed, longest idle first: clients that hold connections open without using them
  cannot fill the server.
"""

from __future__ import annotations

import json
import time
import types
from typing import Any

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

BODY_HEADROOM = 64 << 10
CONNECTION_LIMIT = 128
RESERVED = 32  # connections kept free for the page's own requests
IDLE_TIMEOUT_S = 30  # an idle keep-alive connection (browsers reconnect when they need to)
HEADER_TIMEOUT_S = 10.0  # from a request's first byte to the end of its headers
MIN_BODY_RATE = 64 << 10  # bytes per second, on average over the whole body (a 64 MB photo: 17 minutes)
PRESSURE_IDLE_S = 2.0
CLEANUP_INTERVAL_S = 1


class JsonErrorTask(ErrorTask):
    """waitress's own refusals (a body too large, a malformed request) as the page's JSON."""

    max_body = 0

    def execute(self) -> None:
        error = self.request.error
        message = (f"request too large (at most {self.max_body} bytes)" if error.code == 413
                   else f"{error.reason}: {str(error.body)[:200]}")
        body = json.dumps({"error": message}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class GuardedChannel(HTTPChannel):
    """A connection that remembers when its unfinished request began."""

    error_task_class = JsonErrorTask
    partial_since: float | None = None

    def received(self, data: bytes) -> bool:
        result = super().received(data)
        if self.request is None:
            self.partial_since = None
        elif self.partial_since is None:
            self.partial_since = time.time()
        return result

    def overdue(self, now: float) -> bool:
        """Whether the request being received has taken longer than its headers and body may."""
        request, since = self.request, self.partial_since
        if request is None or since is None:
            return False
        allowed = HEADER_TIMEOUT_S
        if request.headers_finished:
            allowed += request.content_length / MIN_BODY_RATE
        return now - since > allowed


def _maintenance(server: Any, now: float) -> None:
    """waitress's idle sweep, then the rules above (runs every ``CLEANUP_INTERVAL_S``)."""
    server._waitress_maintenance(now)
    channels = list(server.active_channels.values())
    for channel in channels:
        if isinstance(channel, GuardedChannel) and channel.overdue(now):
            channel.will_close = True
    open_now = sum(not c.will_close for c in channels)
    if open_now >= CONNECTION_LIMIT - RESERVED:
        idle = sorted((c for c in channels if not c.will_close and not c.requests
                       and now - c.last_activity > PRESSURE_IDLE_S), key=lambda c: c.last_activity)
        for channel in idle[:open_now - (CONNECTION_LIMIT - RESERVED) + 1]:
            channel.will_close = True


def server_options(max_body: int) -> dict:
    """waitress's settings for a server whose app accepts bodies of up to ``max_body`` bytes."""
    return {"connection_limit": CONNECTION_LIMIT, "channel_timeout": IDLE_TIMEOUT_S,
            "cleanup_interval": CLEANUP_INTERVAL_S, "max_request_body_size": max_body + BODY_HEADROOM,
            "max_request_header_size": 64 << 10}


def guard(server: Any, max_body: int) -> Any:
    """``server`` (from ``waitress.create_server``, one socket or several) with the rules above."""
    subs = [server] if hasattr(server, "active_channels") else \
        [s for s in server.map.values() if hasattr(s, "active_channels")]
    task = type("PageErrorTask", (JsonErrorTask,), {"max_body": max_body})
    channel = type("PageChannel", (GuardedChannel,), {"error_task_class": task})
    for sub in subs:
        sub.channel_class = channel
        sub._waitress_maintenance = sub.maintenance
        sub.maintenance = types.MethodType(_maintenance, sub)
    return server
