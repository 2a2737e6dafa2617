"""The channel between the processes: length-prefixed messages on a socket, with deadlines."""

from __future__ import annotations

import json
import socket
import struct
import time

_LEN = struct.Struct(">I")


MAX_MESSAGE = 256 * 1024 * 1024


class ChannelClosed(Exception):
    pass


class ChannelTimeout(Exception):
    pass


_JOIN_BELOW = 1 << 16  # a small message goes in one write (one wake-up); a large one is not copied to join


def send_msg(sock: socket.socket, payload: bytes) -> None:
    send_framed(sock, [payload])


def send_framed(sock: socket.socket, payloads: list) -> None:
    """Send messages, each with its length, in as few writes as copying allows."""
    if sum(len(p) for p in payloads) < _JOIN_BELOW:
        sock.sendall(b"".join(x for p in payloads for x in (_LEN.pack(len(p)), p)))
        return
    small: list = []
    for p in payloads:
        small.append(_LEN.pack(len(p)))
        if len(p) < _JOIN_BELOW:
            small.append(p)
            continue
        sock.sendall(b"".join(small))
        small = []
        sock.sendall(p)
    if small:
        sock.sendall(b"".join(small))


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
    if n >= _JOIN_BELOW:
        return _recv_into(sock, n, deadline)
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except TimeoutError as err:
            raise ChannelTimeout() from err
        except OSError as err:
            raise ChannelClosed(str(err)) from err
        if not chunk:
            raise ChannelClosed("the other end closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv_into(sock: socket.socket, n: int, deadline: float | None) -> bytearray:
    """A large message straight into one buffer (no chunks to join)."""
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        try:
            k = sock.recv_into(view[got:], min(n - got, 1 << 22))
        except TimeoutError as err:
            raise ChannelTimeout() from err
        except OSError as err:
            raise ChannelClosed(str(err)) from err
        if not k:
            raise ChannelClosed("the other end closed the channel")
        got += k
    return buf


def recv_msg(sock: socket.socket, deadline: float | None = None, limit: int = MAX_MESSAGE) -> bytes:
    (n,) = _LEN.unpack(_recv_exact(sock, 4, deadline))
    if n > limit:
        raise ChannelClosed(f"message of {n} bytes is over the limit of {limit}")
    return _recv_exact(sock, n, deadline)


def send_json(sock, obj) -> None:
    send_msg(sock, json.dumps(obj).encode())


def recv_json(sock, deadline=None):
    return json.loads(recv_msg(sock, deadline))
