"""One POST to an address ``webhooks.addresses`` checked, and nothing else.

The connection goes to ``Target.address`` itself; the URL's host name is only what the request
says it is for (the ``Host`` header, and for https the TLS server name, whose certificate is
verified as usual). The name is never resolved again here, so it cannot resolve elsewhere
between the check and the connection. Redirects are not followed (a 3xx is an answer like any
other non-2xx), proxies from the environment are not used, and the whole attempt (connecting,
sending, the answer's status line and headers) has ``timeout`` seconds; the body of the answer
is never read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from webhooks.addresses import Target

USER_AGENT = "smscrm-webhooks/1"


@dataclass(frozen=True)
class Answer:
    status: int | None  # the HTTP status, None when there was no answer
    error: str = ""  # why there was none (a timeout, a refused connection, a TLS failure)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> Answer:
    """POST ``body`` to ``target``; the receiver's status, or why there was none."""
    parts = target.parts
    pinned = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = pinned(parts.host, parts.port, address=target.address, timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        connection.putrequest("POST", parts.target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", parts.host_header)
        connection.putheader("User-Agent", USER_AGENT)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        connection.sock.settimeout(left)
        return Answer(connection.getresponse().status)
    except TimeoutError:
        return Answer(None, f"No answer within {timeout:g} s.")
    except ssl.SSLError as exc:
        return Answer(None, f"TLS failed: {getattr(exc, 'verify_message', None) or exc.reason or exc}."[:300])
    except (OSError, http.client.HTTPException) as exc:
        return Answer(None, f"Connection failed: {exc or type(exc).__name__}."[:300])
    finally:
        connection.close()
