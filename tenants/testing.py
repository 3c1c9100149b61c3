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
