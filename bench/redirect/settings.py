"""The app's settings plus one bare view, for bench/redirect's floor (never used elsewhere)."""

from smscrm.settings import *  # noqa: F403

ROOT_URLCONF = "bench.redirect.urls"
