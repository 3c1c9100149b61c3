"""CSV downloads: every export a person takes out (contacts, the do-not-contact list, a
campaign's jobs) goes through ``csv_download``, so each is audited and formula-injection safe
the same way."""

from pathlib import Path

from django.http import FileResponse, Http404, StreamingHttpResponse

from contacts import csvfiles, imports, services
from contacts.models import ContactImport


def csv_download(request, *, filename: str, header: list[str], rows, what: str) -> StreamingHttpResponse:
    """Record the export (``services.export_record``), then stream ``rows`` under ``header`` as
    an attachment; each cell goes through ``csvfiles.csv_bytes_iter``, which defuses formulas."""
    services.export_record(tenant=request.tenant, actor=request.user, what=what)
    response = StreamingHttpResponse(csvfiles.csv_bytes_iter(rows, header), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def rejected_rows_download(contact_import: ContactImport) -> FileResponse:
    """An import's rejected rows as its dry run wrote them (the file's cells, then row number,
    outcome and reason; formula-safe), as an attachment. Http404 when there are none: the dry run
    has not finished, or the import was discarded."""
    path = imports.media_path(contact_import.rejected_path) if contact_import.rejected_path else None
    if path is None or not path.exists():
        raise Http404("No rejected rows file.")
    stem = Path(contact_import.original_name).stem
    return FileResponse(
        open(path, "rb"),  # noqa: SIM115 - the response closes it
        as_attachment=True,
        filename=f"{stem}-rejected-rows.csv",
        content_type="text/csv",
    )
