"""Fixtures for the messaging app's tests."""

import pytest

from messaging.tests.fake_twilio import FakeTwilio


@pytest.fixture
def fake_twilio(settings):
    """A local fake of Twilio's Messages API; TWILIO_API_BASE_URL points at it for the test."""
    server = FakeTwilio().start()
    settings.TWILIO_API_BASE_URL = server.url
    try:
        yield server
    finally:
        server.stop()
