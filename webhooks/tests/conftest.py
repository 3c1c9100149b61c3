"""Fixtures of the event webhook tests: a local receiver, private targets allowed, a resolver stub."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from webhooks.tests.receiver import Receiver


@pytest.fixture
def private_targets(settings):
    """Loopback targets allowed, as tests and local development do (WEBHOOKS_ALLOW_PRIVATE_TARGETS)."""
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    return settings


@pytest.fixture
def receiver(private_targets):
    server = Receiver().start()
    try:
        yield server
    finally:
        server.stop()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Resolver:
    """A stand-in for DNS: ``names[host]`` is the list of addresses it answers; other names fail.
    ``asked`` counts the look-ups."""

    def __init__(self, real):
        self.names: dict[str, list[str]] = {}
        self.asked: list[str] = []
        self._real = real

    def __call__(self, host, port, *args, **kwargs):
        self.asked.append(host)
        if host not in self.names:
            if _is_address(host):  # a literal resolves to itself, as with the real resolver
                return self._real(host, port, *args, **kwargs)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answers = []
        for address in self.names[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            answers.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return answers


@pytest.fixture
def resolver(monkeypatch):
    """``socket.getaddrinfo`` answered by a stub: names it does not know fail as unknown names;
    address literals resolve to themselves."""
    stub = Resolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    return stub
