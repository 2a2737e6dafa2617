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


def send_msg(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(_LEN.pack(len(payload)) + payload)


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes:
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


def recv_msg(sock: socket.socket, deadline: float | None = None, limit: int = MAX_MESSAGE) -> bytes:
    (n,) = _LEN.unpack(_recv_exact(sock, 4, deadline))
    if n > limit:
        raise ChannelClosed(f"message of {n} bytes is over the limit of {limit}")
    return _recv_exact(sock, n, deadline)


def send_json(sock, obj) -> None:
    send_msg(sock, json.dumps(obj).encode())


def recv_json(sock, deadline=None):
    return json.loads(recv_msg(sock, deadline))
