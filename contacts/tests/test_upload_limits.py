"""Uploads cannot exhaust the web workers (what a security review did to them).

40,000 duplicate header names cost 131 s of CPU (quadratic renaming); 100,000 columns were
accepted and the mapping page then took a worker to 551 MB on every visit; a 100 MB single
line ran for 10 minutes at 1.3 GB. Files were copied three times, and a killed request left
its copy behind.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from contacts import csvfiles, uploads
from contacts.csvfiles import inspection, streaming
from contacts.models import ContactImport
from smscrm.wsgi import RequestSizeLimit
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def upload(client, content: bytes, name="customers.csv"):
    return client.post(reverse("contacts:imports"), {"file": SimpleUploadedFile(name, content, "text/csv")})


def files_under(root) -> list[Path]:
    return sorted(path for path in Path(root).rglob("*") if path.is_file())


def test_forty_thousand_duplicate_headers_are_refused_with_the_column_count(tenant, members, settings):
    header = ",".join(["a"] * 40_000).encode()
    response = upload(client_for(members["staff"]), header + b"\r\n0412345678\r\n")
    assert response.status_code == 400
    assert "The header row has 40,000 columns; at most 500 can be imported." in response.content.decode()
    assert not ContactImport.objects.exists() and files_under(settings.MEDIA_ROOT) == []


def test_duplicate_header_names_are_numbered_in_one_pass():
    headers = inspection._clean_headers(["a"] * 40_000 + ["a (3)", "", "Column 40002"])
    assert headers[:4] == ["a", "a (2)", "a (4)", "a (5)"]  # a real "a (3)" column keeps its name
    assert headers[-3:] == ["a (3)", "Column 40002 (2)", "Column 40002"]
    assert len(set(headers)) == len(headers)


def test_a_hundred_thousand_columns_never_reach_the_mapping_page(tenant, members):
    header = ",".join(f"c{i}" for i in range(100_000)).encode()
    response = upload(client_for(members["staff"]), b"Mobile," + header + b"\r\n0412345678\r\n")
    assert response.status_code == 400
    assert "100,001 columns" in response.content.decode()


def test_a_single_endless_line_is_refused_without_reading_it_whole(tenant, members, settings, monkeypatch):
    monkeypatch.setattr(streaming, "MAX_LINE_CHARS", 64 * 1024)
    line = b"Mobile," + b"x," * 200_000  # 400 KB with no line break
    response = upload(client_for(members["staff"]), line)
    assert response.status_code == 400
    assert "Line 1 of the file is longer than 64.0 KB" in response.content.decode()
    assert files_under(settings.MEDIA_ROOT) == []


def test_a_long_line_after_the_header_stops_the_import_with_its_line_number(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "MAX_LINE_CHARS", 1024)
    path = tmp_path / "x.csv"
    path.write_text("Mobile,Name\n0412345678,Ann\n" + "0412345679," + "y" * 5000 + "\n")
    with pytest.raises(csvfiles.CsvFileError, match="Line 3 of the file is longer"):  # noqa: SIM117
        with csvfiles.open_rows(path, encoding="utf-8", delimiter=",") as rows:
            list(rows)


def test_the_default_line_limit_keeps_a_quoted_multiline_cell(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('Mobile,Note\n0412345678,"line one\nline two"\n')
    with csvfiles.open_rows(path, encoding="utf-8", delimiter=",") as rows:
        assert [fields for _, fields, _ in rows] == [["0412345678", "line one\nline two"]]


def test_an_upload_is_written_once_and_renamed_into_place(tenant, members, settings, monkeypatch):
    def no_copy(*args, **kwargs):
        raise AssertionError("an upload must not be copied")

    monkeypatch.setattr("shutil.copyfile", no_copy)
    response = upload(client_for(members["staff"]), b"Mobile,Name\r\n0412345678,Ann\r\n")
    assert response.status_code == 302
    imp = ContactImport.objects.get(tenant=tenant)
    assert files_under(settings.MEDIA_ROOT) == [Path(settings.MEDIA_ROOT) / imp.file_path]  # nothing left in incoming


def test_an_upload_over_the_limit_stops_being_read_and_says_why(tenant, members, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 10_000
    response = upload(client_for(members["staff"]), b"Mobile\r\n" + b"0412345678\r\n" * 2_000)
    assert response.status_code == 400
    assert "The file is larger than 9.8 KB" in response.content.decode()
    assert not ContactImport.objects.exists() and files_under(settings.MEDIA_ROOT) == []


class Unreadable(io.RawIOBase):
    def read(self, *args):
        raise AssertionError("the body of an oversized request must not be read")

    readinto = read


def test_the_web_layer_refuses_an_oversized_request_before_reading_it():
    called = []
    app = RequestSizeLimit(
        lambda environ, start: called.append(environ) or [b"ok"],
        max_bytes=1000,
        large_paths=("/contacts/imports/",),
        large_max_bytes=5000,
    )
    answered = {}

    def start_response(status, headers):
        answered["status"], answered["headers"] = status, dict(headers)

    body = app({"CONTENT_LENGTH": "1001", "PATH_INFO": "/login/", "wsgi.input": Unreadable()}, start_response)
    assert answered["status"].startswith("413") and b"Request too large" in b"".join(body) and not called
    assert "Connection" not in answered["headers"]  # hop-by-hop: WSGI servers refuse it from the app
    app({"CONTENT_LENGTH": "abc", "PATH_INFO": "/login/", "wsgi.input": Unreadable()}, start_response)
    assert answered["status"].startswith("400") and not called
    environ = {"CONTENT_LENGTH": "1000", "PATH_INFO": "/login/", "wsgi.input": io.BytesIO(b"")}
    assert app(environ, start_response) == [b"ok"]
    # The import URL takes more; still not without limit.
    environ = {"CONTENT_LENGTH": "4000", "PATH_INFO": "/contacts/imports/", "wsgi.input": io.BytesIO(b"")}
    assert app(environ, start_response) == [b"ok"]
    app({"CONTENT_LENGTH": "5001", "PATH_INFO": "/contacts/imports/", "wsgi.input": Unreadable()}, start_response)
    assert answered["status"].startswith("413")


def test_the_deployed_application_is_behind_the_cap(settings):
    from smscrm.wsgi import application

    assert isinstance(application, RequestSizeLimit)
    assert application.max_bytes == settings.MAX_REQUEST_BYTES < settings.CONTACT_IMPORT_MAX_BYTES
    assert application.limit_for("/contacts/imports/") == settings.MAX_IMPORT_REQUEST_BYTES
    assert settings.MAX_IMPORT_REQUEST_BYTES > settings.CONTACT_IMPORT_MAX_BYTES


def test_a_file_posted_anywhere_else_is_left_to_djangos_own_handlers(rf):
    """Anonymous multipart posts to the sign-in page wrote files where imports keep theirs."""
    from django.core.files.uploadedfile import InMemoryUploadedFile

    for path, kept in ((reverse("tenants:login"), False), (reverse("contacts:imports"), True)):
        request = rf.post(path, {"email": "a@b.test", "file": SimpleUploadedFile("x.csv", b"y" * 10)})
        uploaded = request.FILES["file"]
        assert isinstance(uploaded, uploads.IncomingUpload) is kept, path
        assert isinstance(uploaded, InMemoryUploadedFile) is not kept, path
        assert bool(files_under(uploads.incoming_dir()) if uploads.incoming_dir().exists() else []) is kept, path
        request.close()
    assert files_under(uploads.incoming_dir()) == []  # closed: deleted


def test_files_left_by_killed_requests_are_swept_after_an_hour(settings):
    folder = uploads.incoming_dir()
    folder.mkdir(parents=True)
    old, fresh = folder / "old.part", folder / "fresh.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    an_hour_ago = time.time() - uploads.ABANDONED_AFTER_SECONDS - 5
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert uploads.incoming_sweep() == 1
    assert not old.exists() and fresh.exists()


def test_a_nul_character_in_a_cell_is_dropped(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("Mobile,Name\r\n0412345678,An\x00n\r\n".encode("utf-16"))
    info = csvfiles.inspect_file(path, max_bytes=10_000)
    with csvfiles.open_rows(path, encoding=info.encoding, delimiter=info.delimiter) as rows:
        assert [fields for _, fields, _ in rows] == [["0412345678", "Ann"]]


def test_the_admins_upload_page_checks_the_import_permission(tenant, members):
    """The contacts admin's add_view skipped the add-permission check: a viewer saw the upload form."""
    for role, expected in (("viewer", 403), ("staff", 200)):
        user = members[role]
        user.is_staff = True
        user.save()
        response = client_for(user).get(reverse("admin:contacts_contactimport_add"))
        assert response.status_code == expected, role
    viewer_post = client_for(members["viewer"]).post(
        reverse("admin:contacts_contactimport_add"),
        {"tenant": tenant.pk, "file": SimpleUploadedFile("a.csv", b"Mobile\r\n0412345678\r\n")},
    )
    assert viewer_post.status_code == 403 and not ContactImport.objects.exists()


def test_wide_data_rows_under_a_narrow_header_are_refused_too(tenant, members, settings):
    """The review's bypass: header 'phone,name', then rows of 330,000 cells each (stored as samples)."""
    wide = b"0412345678," + b"x," * 1_000
    response = upload(client_for(members["staff"]), b"phone,name\r\n" + wide + b"\r\n")
    assert response.status_code == 400
    assert "Row 1 has 1,002 cells; at most 500 can be imported." in response.content.decode()
    assert not ContactImport.objects.exists()


def test_samples_keep_only_the_headers_columns(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("phone,name\n0412345678,Ann,extra,more\n")
    assert csvfiles.inspect_file(path, max_bytes=10_000).sample_rows == [["0412345678", "Ann"]]


def test_the_import_list_never_loads_stored_samples(tenant, members):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    upload(client_for(members["staff"]), b"Mobile,Name\r\n0412345678,Ann\r\n")
    with CaptureQueriesContext(connection) as queries:
        assert client_for(members["staff"]).get(reverse("contacts:imports")).status_code == 200
    listing = [q["sql"] for q in queries.captured_queries if "contacts_contactimport" in q["sql"]]
    assert listing and all("sample_rows" not in sql and "preview_rows" not in sql for sql in listing)
