"""How `serve` runs uvicorn: idle connections closed, and even a malformed request answered in JSON.

uvicorn closes a keep-alive connection ``timeout_keep_alive`` seconds after its last answer,
but a connection that never completes a request's headers (opened and left idle, or a
slowloris sending a byte at a time) is held for ever, a file descriptor each. ``GuardedH11``
closes it ``header_seconds`` after it was opened or after its last answer, and answers a
request that h11 cannot parse with JSON (431 when the headers are over the limit) instead of
uvicorn's plain-text 400.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from autograder.settings import Settings


class GuardedH11(H11Protocol):
    header_seconds: float = 10.0
    max_header_bytes: int = 16 * 1024

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        cycle = self.cycle
        self.loop.call_later(self.header_seconds, self._header_timeout, cycle)

    def _header_timeout(self, cycle) -> None:
        """No new request's headers completed since the timer was armed: close."""
        if self.transport.is_closing() or self.cycle is not cycle or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.our_state is not h11.IDLE and self.conn.our_state is not h11.DONE:
            return  # an answer is still being sent
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request's headers get header_seconds too

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:  # reading a request's headers (h11 only limits them when incomplete)
            buffered = self.conn.trailing_data[0] + data
            end = buffered.find(b"\r\n\r\n")
            if end > self.max_header_bytes or (end < 0 and len(buffered) > self.max_header_bytes):
                self._json_error(431, f"request headers over {self.max_header_bytes} bytes")
                return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        buffered, _ = self.conn.trailing_data
        if len(buffered) >= self.max_header_bytes:
            self._json_error(431, f"request headers over {self.max_header_bytes} bytes")
        else:
            self._json_error(400, "malformed HTTP request")

    def _json_error(self, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        reason = {400: b"Bad Request", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason, len(body), body))
        self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedH11]:
    return type("GuardedH11", (GuardedH11,), {"header_seconds": settings.header_seconds,
                                              "max_header_bytes": settings.max_header_bytes})


def uvicorn_options(settings: Settings) -> dict:
    """The keyword arguments `serve` gives uvicorn.Config / uvicorn.run."""
    return {"http": protocol_for(settings), "timeout_keep_alive": max(1, int(settings.keepalive_seconds)),
            "h11_max_incomplete_event_size": settings.max_header_bytes}
