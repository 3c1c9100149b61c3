"""Where event webhooks may go: public addresses only, checked on save and before every request."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from webhooks.addresses import target_check, url_parts

PUBLIC = "93.184.215.14"


def refusal(url: str) -> str:
    with pytest.raises(ValidationError) as caught:
        target_check(url)
    return " ".join(caught.value.messages)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.5.6.7", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.20", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("100.64.0.1", "reserved"),  # carrier-grade NAT: not the public internet
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address refused, not one bound)
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fd00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("fe80::1", "link-local"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ],
)
def test_a_host_resolving_to_a_non_public_address_is_refused(resolver, address, kind):
    resolver.names["hooks.example.com"] = [address]
    assert kind in refusal("https://hooks.example.com/in")
    assert kind in refusal(f"https://[{address}]/in" if ":" in address else f"https://{address}/in")


def test_one_refused_address_among_public_ones_is_enough(resolver):
    # A resolver may hand either to the connection: every address must pass.
    resolver.names["mixed.example.com"] = [PUBLIC, "10.0.0.7"]
    assert refusal("https://mixed.example.com/") == (
        "mixed.example.com (10.0.0.7) is a private address: event webhooks go to public internet addresses only."
    )


def test_a_public_host_passes_and_is_pinned_to_the_checked_address(resolver):
    resolver.names["hooks.example.com"] = [PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
    target = target_check("https://Hooks.Example.com./in?x=1#frag")
    assert target.address == PUBLIC
    assert (target.parts.host, target.parts.port, target.parts.target) == ("hooks.example.com", 443, "/in?x=1")
    assert target.parts.host_header == "hooks.example.com"


def test_a_name_that_does_not_resolve_is_refused(resolver):
    assert refusal("https://nowhere.invalid/") == "The host nowhere.invalid could not be resolved."


def test_loopback_is_allowed_by_the_setting_but_metadata_never(resolver, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    resolver.names["local.test"] = ["127.0.0.1"]
    assert target_check("http://local.test:8000/hook").address == "127.0.0.1"
    assert target_check("http://192.168.1.5/hook").address == "192.168.1.5"
    assert "metadata" in refusal("http://169.254.169.254/latest/meta-data/")
    assert "metadata" in refusal("http://[fd00:ec2::254]/")


def test_production_requires_https(settings, resolver):
    resolver.names["hooks.example.com"] = [PUBLIC]
    settings.PRODUCTION = True
    assert refusal("http://hooks.example.com/") == "Use https://, not http://."
    assert target_check("https://hooks.example.com/").address == PUBLIC
    settings.PRODUCTION = False
    assert target_check("http://hooks.example.com/").parts.port == 80


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "Use an https:// URL."),
        ("file:///etc/passwd", "Use an https:// URL."),
        ("https://user:pw@hooks.example.com/", "Put no user name or password in the URL"),
        ("https:///nohost", "The URL needs a host name."),
        ("https://hooks.example.com:99999/", "This is not a valid URL"),
        ("https://hooks.example.com/a b", "may not contain spaces or control characters"),
        ("https://hooks.example.com/\x00", "may not contain spaces or control characters"),
        ("https://" + "a" * 2000 + ".com/", "at most 2000 characters"),
        ("", "Enter the URL"),
    ],
)
def test_malformed_urls_are_refused_before_any_look_up(resolver, url, message):
    with pytest.raises(ValidationError) as caught:
        url_parts(url)
    assert message in " ".join(caught.value.messages)
    assert resolver.asked == []
