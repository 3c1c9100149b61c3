"""CSV downloads: every export a person takes out (contacts, the do-not-contact list, a
campaign's jobs) goes through ``csv_download``, so each is audited and formula-injection safe
the same way."""

from django.http import StreamingHttpResponse

from contacts import csvfiles, services


def csv_download(request, *, filename: str, header: list[str], rows, what: str) -> StreamingHttpResponse:
    """Record the export (``services.export_record``), then stream ``rows`` under ``header`` as
    an attachment; each cell goes through ``csvfiles.csv_bytes_iter``, which defuses formulas."""
    services.export_record(tenant=request.tenant, actor=request.user, what=what)
    response = StreamingHttpResponse(csvfiles.csv_bytes_iter(rows, header), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
