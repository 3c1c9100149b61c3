"""Uploaded files go to disk once, where the import keeps them, and never past the size limit.

``ImportUploadHandler`` (FILE_UPLOAD_HANDLERS) streams each file uploaded to an import URL
(IMPORT_UPLOAD_PATHS) straight into ``MEDIA_ROOT/imports/incoming/`` as it arrives, counting
bytes: past
CONTACT_IMPORT_MAX_BYTES it stops reading the request and the form says why. The import then
renames the file into place (``contacts.services.contact_import_upload_file``): one write, no
copy. A request that dies half-way leaves a ``.part`` file, which the hourly
``contacts.sweep_incoming_uploads`` task deletes once it is an hour old.

Requests whose declared size is over the limit of their URL never reach Django at all
(``smscrm.wsgi``): the import limit on import URLs, MAX_REQUEST_BYTES elsewhere.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

from contacts.csvfiles import format_size

INCOMING = "imports/incoming"
ABANDONED_AFTER_SECONDS = 3600


def incoming_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / INCOMING


def too_big_message() -> str:
    return (
        f"The file is larger than {format_size(settings.CONTACT_IMPORT_MAX_BYTES).replace('.0 ', ' ')}, "
        "the most one import takes: split it into smaller files."
    )


class IncomingUpload(UploadedFile):
    """An uploaded file on disk under the incoming folder; deleted on close unless moved away."""

    def __init__(self, path: Path, name: str, content_type: str, size: int, charset, content_type_extra):
        super().__init__(open(path, "rb"), name, content_type, size, charset, content_type_extra)  # noqa: SIM115
        self.path = path

    def temporary_file_path(self) -> str:
        return str(self.path)

    def close(self):
        try:
            return self.file.close()
        finally:
            self.path.unlink(missing_ok=True)  # moved into place already, or abandoned: gone either way


def is_import_upload(path: str) -> bool:
    """Whether ``path`` takes contact files (IMPORT_UPLOAD_PATHS): only there are files kept."""
    return path.startswith(tuple(settings.IMPORT_UPLOAD_PATHS))


class ImportUploadHandler(FileUploadHandler):
    """On an import URL, writes each file of a multipart request to the incoming folder, at most
    the import limit. Anywhere else it steps aside for Django's own handlers (listed after it)."""

    active = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.active = is_import_upload(self.request.path_info)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        if not self.active:
            return
        folder = incoming_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{uuid.uuid4().hex}.part"
        self.out = open(self.path, "wb")  # noqa: SIM115 - closed in file_complete / upload_interrupted
        self.written = 0

    def receive_data_chunk(self, raw_data, start):
        if not self.active:
            return raw_data  # to the next handler
        self.written += len(raw_data)
        if self.written > settings.CONTACT_IMPORT_MAX_BYTES:
            self._discard()
            self.request.upload_refused = too_big_message()
            raise StopUpload(connection_reset=True)  # stop reading: the rest of the body is never read
        self.out.write(raw_data)
        return None

    def file_complete(self, file_size):
        if not self.active:
            return None
        self.out.close()
        return IncomingUpload(
            self.path, self.file_name, self.content_type, file_size, self.charset, self.content_type_extra
        )

    def upload_interrupted(self):
        self._discard()

    def _discard(self):
        if getattr(self, "out", None) is not None:
            self.out.close()
            self.path.unlink(missing_ok=True)


def incoming_sweep(*, now: float | None = None) -> int:
    """Delete incoming files older than an hour (left by requests that died); how many."""
    now = time.time() if now is None else now
    removed = 0
    folder = incoming_dir()
    if not folder.is_dir():
        return 0
    for entry in os.scandir(folder):
        if entry.is_file() and entry.stat().st_mtime < now - ABANDONED_AFTER_SECONDS:
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed
