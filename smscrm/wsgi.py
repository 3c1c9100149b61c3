"""The WSGI application, behind a cap on the request's declared size.

A request that announces more than its URL allows (MAX_IMPORT_REQUEST_BYTES, the import limit
plus room for the form, on IMPORT_UPLOAD_PATHS; MAX_REQUEST_BYTES anywhere else) is answered
413 before anything reads its body: a worker never spends time or disk on it. Bodies without a
Content-Length are read by Django as empty, so the cap cannot be sidestepped that way; what an
upload actually sends is counted again by ``contacts.uploads.ImportUploadHandler``.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")


class RequestSizeLimit:
    def __init__(self, app, max_bytes: int, *, large_paths: tuple[str, ...] = (), large_max_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        self.large_paths = large_paths
        self.large_max_bytes = large_max_bytes

    def limit_for(self, path: str) -> int:
        return self.large_max_bytes if self.large_paths and path.startswith(self.large_paths) else self.max_bytes

    def __call__(self, environ, start_response):
        declared = environ.get("CONTENT_LENGTH") or "0"
        limit = self.limit_for(environ.get("PATH_INFO", ""))
        if not declared.isdigit() or int(declared) > limit:
            body = (
                f"Request too large: at most {limit // (1024 * 1024)} MB may be sent here.\n".encode()
                if declared.isdigit()
                else b"Bad Content-Length.\n"
            )
            status = "413 Request Entity Too Large" if declared.isdigit() else "400 Bad Request"
            # No Connection header: hop-by-hop headers are the server's (WSGI forbids them here).
            start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


def _build():
    from django.conf import settings

    django_app = get_wsgi_application()
    return RequestSizeLimit(
        django_app,
        settings.MAX_REQUEST_BYTES,
        large_paths=tuple(settings.IMPORT_UPLOAD_PATHS),
        large_max_bytes=settings.MAX_IMPORT_REQUEST_BYTES,
    )


application = _build()
