"""Production mode: refuses to start without its secrets, and passes `check --deploy`."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(tmp_path) -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "ALLOWED_HOSTS": "crm.example.com",
        "PUBLIC_BASE_URL": "https://crm.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/14",
    }


def test_check_deploy_is_clean_in_production(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "ALLOWED_HOSTS", "REDIS_URL"])
def test_production_refuses_to_start_without(missing, tmp_path):
    env = _production_env(tmp_path)
    del env[missing]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_development_needs_no_environment(tmp_path):
    result = _manage("check", env={"DJANGO_ENV": "development"})
    assert result.returncode == 0, result.stderr


def test_check_deploy_warns_about_hosts_a_tenant_could_claim(tmp_path):
    env = {**_production_env(tmp_path), "ALLOWED_HOSTS": "crm.example.com,www.crm.example.com"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "smscrm.W002" in result.stderr + result.stdout
    env["APP_HOSTS"] = "www.crm.example.com"
    assert _manage("check", "--deploy", "--fail-level", "WARNING", env=env).returncode == 0


def test_check_deploy_warns_when_public_base_url_is_not_served(tmp_path):
    env = {**_production_env(tmp_path), "PUBLIC_BASE_URL": "https://elsewhere.example.com"}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0 and "smscrm.W001" in result.stderr + result.stdout


def test_env_example_lists_every_variable_settings_and_gunicorn_read():
    read = set()
    for source in ("smscrm/settings.py", "gunicorn.conf.py"):
        text = (ROOT / source).read_text()
        read |= set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', text))
        read |= set(re.findall(r'os\.environ(?:\.get)?[(\[]\s*["\']([A-Z][A-Z0-9_]*)', text))
    read.discard("PYTEST_VERSION")  # pytest sets it; nobody configures it
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert "PORT" in read and "DATABASE_URL" in read  # the patterns still find both files' reads
    assert sorted(read - listed) == []
