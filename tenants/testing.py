"""Test helpers shared by every app's tests (imported by tests only).

``assert_roles`` checks, for one URL, which roles may use it and which get 403;
``assert_hidden_from`` checks that a user of another tenant gets 404, exactly like a
missing object. Together they are RapidPro's ``assertRequestDisallowed`` for this product.
"""

from collections.abc import Callable, Iterable

from django.test import Client

from tenants.roles import Role

ALL_ROLES = tuple(role.value for role in Role)
SUCCESS = (200, 201, 204, 302, 303)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_roles(
    url: str | Callable[[], str],
    *,
    members: dict[str, object],
    allowed: Iterable[str],
    method: str = "get",
    data: dict | Callable[[], dict] | None = None,
    success: Iterable[int] = SUCCESS,
) -> None:
    """Every role in ``allowed`` gets a success status; every other role gets 403.

    ``url`` and ``data`` may be callables, called once per role, so that a POST that
    consumes its object (a removal, say) gets a fresh one each time.
    """
    allowed = set(allowed)
    unknown = allowed - set(ALL_ROLES)
    assert not unknown, f"unknown roles {unknown}"
    for role in ALL_ROLES:
        target = url() if callable(url) else url
        payload = data() if callable(data) else data
        response = getattr(client_for(members[role]), method)(target, payload or {})
        if role in allowed:
            assert response.status_code in set(success), (
                f"{role} should be allowed {method.upper()} {target}, got {response.status_code}"
            )
        else:
            assert response.status_code == 403, (
                f"{role} should be refused {method.upper()} {target} with 403, got {response.status_code}"
            )


def assert_hidden_from(url: str, *, user, method: str = "get", data: dict | None = None) -> None:
    """``user`` (an owner of another tenant) gets 404 for ``url``, as for a missing object."""
    response = getattr(client_for(user), method)(url, data or {})
    assert response.status_code == 404, f"another tenant's user got {response.status_code} for {url}, not 404"


def assert_login_required(url: str, *, method: str = "get") -> None:
    response = getattr(Client(), method)(url)
    assert response.status_code == 302 and "/login/" in response["Location"], (
        f"anonymous {method.upper()} {url} should redirect to login, got {response.status_code}"
    )


# --- The REST API -------------------------------------------------------------------------------

API_ROLES = ("viewer", "staff", "admin")


def api_client(key: str | None = None):
    """A DRF test client sending ``Authorization: Bearer <key>`` (no key: anonymous)."""
    from rest_framework.test import APIClient

    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def api_key_for(tenant, role: str) -> str:
    from tenants.apikeys import api_key_create

    return api_key_create(tenant=tenant, name=f"{role} test key", role=role)[1]


def assert_api_roles(
    url: str | Callable[[], str],
    *,
    keys: dict[str, str],
    allowed: Iterable[str],
    method: str = "get",
    data: dict | Callable[[], dict] | None = None,
    success: Iterable[int] = (200, 201, 202, 204),
    format: str = "json",
) -> None:
    """Every key role in ``allowed`` gets a success status; every other role gets 403 with the
    API's error body. ``url``/``data`` may be callables, called once per role."""
    allowed = set(allowed)
    assert not allowed - set(API_ROLES), f"unknown roles {allowed - set(API_ROLES)}"
    for role in API_ROLES:
        target = url() if callable(url) else url
        payload = data() if callable(data) else data
        kwargs = {"format": format} if payload is not None else {}
        response = getattr(api_client(keys[role]), method)(target, payload, **kwargs)
        if role in allowed:
            assert response.status_code in set(success), (
                f"{role} key should be allowed {method.upper()} {target}, got {response.status_code}: "
                f"{getattr(response, 'data', '')}"
            )
        else:
            assert response.status_code == 403, (
                f"{role} key should be refused {method.upper()} {target} with 403, got {response.status_code}"
            )
            assert response.json()["code"] == "permission_denied"


def assert_api_hidden(url: str, *, key: str, method: str = "get", data: dict | None = None) -> None:
    """Another tenant's admin key gets 404 (``not_found``) for ``url``, as for a missing object."""
    kwargs = {"format": "json"} if data is not None else {}
    response = getattr(api_client(key), method)(url, data, **kwargs)
    assert response.status_code == 404, f"another tenant's key got {response.status_code} for {url}, not 404"
    assert response.json() == {"code": "not_found", "message": "Not found.", "fields": {}}
