"""Gunicorn settings: the Docker image's CMD and scripts/check_image_commands.sh use this file.

Every value can be tuned from the environment without rebuilding the image.
"""

import os

wsgi_app = "smscrm.wsgi:application"

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 1
timeout = 30
# Shorter than compose's stop_grace_period (35s), so in-flight requests finish before a SIGKILL.
graceful_timeout = 25
keepalive = 5

# Only the TLS-terminating proxy in front of us may set X-Forwarded-Proto and friends.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# The worker heartbeat file lives in RAM when possible: a disk-backed /tmp can stall it.
# (gunicorn creates it with tempfile, under an unpredictable name.)
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# No runtime control socket (gunicornc): nobody manages gunicorn by hand inside a container,
# and it would otherwise be created under $HOME.
control_socket_disable = True

loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
errorlog = "-"
accesslog = "-"
# Magic-link tokens travel in the query string (?sesame=...), so the access log records the
# path alone: %(U)s, never %(r)s (the request line) or %(q)s (the query string). The Referer
# (%(f)s) is left out too: with SECURE_REFERRER_POLICY = "same-origin" a request made from the
# magic-link page carries that page's full URL, token included, in its Referer header.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
# The path itself carries a token on one page (an invitation's link): the access log's path goes
# through the same redaction as every other log line.
logger_class = "smscrm.gunicorn_logging.RedactingLogger"


def worker_exit(server, worker):
    """A stopping worker hands its buffered short-link clicks to Redis first (links/clicks.py)."""
    try:
        from links import clicks
    except Exception:  # the app never loaded in this worker: nothing was buffered
        return
    clicks.drain_local()
