from celery import shared_task

from smscrm import crypto
from tenants.memberships import invitation_send
from tenants.services import login_link_send


@shared_task(name="tenants.send_login_link", ignore_result=True, max_retries=3, default_retry_delay=30)
def send_login_link(email: str) -> None:
    """Look the address up and e-mail a magic link if it belongs to an active user.

    Done in the background for every request, known address or not, so the login page
    answers in the same time either way and nobody can tell who has an account.
    """
    try:
        login_link_send(email=email)
    except OSError as exc:  # SMTP unreachable: try again shortly
        raise send_login_link.retry(exc=exc) from exc


@shared_task(name="tenants.send_invitation", ignore_result=True, max_retries=3, default_retry_delay=30)
def send_invitation(invitation_id: int, sealed_token: str) -> None:
    """E-mail an invitation's link (nothing when it was revoked meanwhile). The token travels
    encrypted (smscrm.crypto), so the broker never holds a usable link."""
    try:
        invitation_send(invitation_id=invitation_id, token=crypto.decrypt(sealed_token))
    except OSError as exc:  # SMTP unreachable: try again shortly
        raise send_invitation.retry(exc=exc) from exc


@shared_task(name="tenants.idempotency_purge", ignore_result=True)
def idempotency_purge() -> int:
    """Forget API Idempotency-Keys older than 24 hours (beat, hourly; safe to run twice)."""
    from tenants.api.idempotency import idempotency_purge as purge

    return purge()
