"""The WSGI application, behind a cap on the request's declared size.

A request that announces more than MAX_REQUEST_BYTES (the contact import limit plus room for
the form around it) is answered 413 before anything reads its body: a worker never spends time
or disk on it. Bodies without a Content-Length are read by Django as empty, so the cap cannot
be sidestepped that way; what an upload actually sends is counted again by
``contacts.uploads.ImportUploadHandler``.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")


class RequestSizeLimit:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    def __call__(self, environ, start_response):
        declared = environ.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > self.max_bytes:
            body = (
                f"Request too large: at most {self.max_bytes // (1024 * 1024)} MB may be sent at once.\n".encode()
                if declared.isdigit()
                else b"Bad Content-Length.\n"
            )
            status = "413 Request Entity Too Large" if declared.isdigit() else "400 Bad Request"
            start_response(
                status,
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ],
            )
            return [body]
        return self.app(environ, start_response)


def _build():
    from django.conf import settings

    django_app = get_wsgi_application()
    return RequestSizeLimit(django_app, settings.MAX_REQUEST_BYTES)


application = _build()
