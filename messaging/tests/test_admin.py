"""The messaging admin: tenant-scoped, tokens never shown back, messages read-only."""

import pytest
from django.urls import reverse

from campaigns.tests.factories import ProviderAccountFactory
from messaging.models import Message, ProviderAccount, SendingNumber
from tenants.models import AuditEvent
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def test_provider_accounts_are_scoped_and_their_token_never_shown(staff_owner, tenant, other_tenant):
    ours = ProviderAccountFactory(tenant=tenant, auth_token="our-secret-token-123")
    theirs = ProviderAccountFactory(tenant=other_tenant)
    client = client_for(staff_owner)
    listing = client.get(reverse("admin:messaging_provideraccount_changelist")).content.decode()
    assert ours.account_sid in listing and theirs.account_sid not in listing
    form = client.get(reverse("admin:messaging_provideraccount_change", args=[ours.pk])).content.decode()
    assert "our-secret-token-123" not in form
    # Another tenant's account answers exactly as an account that does not exist: Django's admin
    # sends both back to the admin index ("… doesn't exist. Perhaps it was deleted?").
    response = client.get(reverse("admin:messaging_provideraccount_change", args=[theirs.pk]))
    missing = client.get(reverse("admin:messaging_provideraccount_change", args=[theirs.pk + 1000]))
    assert (response.status_code, response["Location"]) == (302, reverse("admin:index"))
    assert (missing.status_code, missing["Location"]) == (302, reverse("admin:index"))
    assert theirs.account_sid not in client.get(response["Location"]).content.decode()


def test_saving_an_account_keeps_the_token_and_is_audited_without_it(staff_owner, tenant):
    account = ProviderAccountFactory(tenant=tenant, auth_token="keep-me-please")
    response = client_for(staff_owner).post(
        reverse("admin:messaging_provideraccount_change", args=[account.pk]),
        {"tenant": tenant.pk, "provider": "twilio", "label": "Main", "account_sid": account.account_sid,
         "auth_token": "", "is_active": "on", "max_concurrent_requests": 50},
    )  # fmt: skip
    assert response.status_code == 302
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == "keep-me-please"
    event = AuditEvent.objects.get(action="messaging.provider_account_saved")
    assert "keep-me-please" not in str(event.data) and event.target == "Main"


def test_messages_are_read_only_in_the_admin(staff_owner):
    client = client_for(staff_owner)
    assert client.get(reverse("admin:messaging_message_changelist")).status_code == 200
    assert client.get(reverse("admin:messaging_message_add")).status_code == 403
    assert not Message.objects.exists()


def test_sending_numbers_are_added_and_changed_through_the_services(staff_owner, tenant):
    account = ProviderAccountFactory(tenant=tenant)
    client = client_for(staff_owner)
    form = {
        "tenant": tenant.pk, "account": account.pk, "sender": "+61485000077", "kind": "number",
        "sender_id_status": "n/a", "is_active": "on", "warmup_started_on": "2026-01-01",
        "messages_per_second": 10, "warmup_curve": "[50, 100]",
    }  # fmt: skip
    assert client.post(reverse("admin:messaging_sendingnumber_add"), form).status_code == 302
    number = SendingNumber.objects.get(tenant=tenant, sender="+61485000077")
    form["messages_per_second"] = 5
    assert client.post(reverse("admin:messaging_sendingnumber_change", args=[number.pk]), form).status_code == 302
    number.refresh_from_db()
    assert number.messages_per_second == 5
    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"messaging.sending_number_created", "messaging.sending_number_saved"} <= actions


def test_provider_events_are_read_only_and_scoped(staff_owner, tenant, other_tenant):
    from django.utils import timezone

    from messaging.models import ProviderEvent

    at = timezone.now()
    ProviderEvent.objects.create(tenant=tenant, kind="status", message_sid="SMours", status="sent", received_at=at)
    ProviderEvent.objects.create(
        tenant=other_tenant, kind="status", message_sid="SMtheirs", status="sent", received_at=at
    )
    client = client_for(staff_owner)
    listing = client.get(reverse("admin:messaging_providerevent_changelist")).content.decode()
    assert "SMours" in listing and "SMtheirs" not in listing
    assert client.get(reverse("admin:messaging_providerevent_add")).status_code == 403


@pytest.mark.parametrize("role", ["viewer", "staff", "admin", "owner"])
def test_no_role_ever_sees_the_stored_auth_token(tenant, members, role):
    """A viewer of the admin got Django's read-only form, which printed the decrypted token."""
    user = members[role]
    user.is_staff = True
    user.save()
    account = ProviderAccountFactory(tenant=tenant, auth_token="tok-0123456789abcdef-ZX9Q")
    client = client_for(user)
    for url in (
        reverse("admin:messaging_provideraccount_change", args=[account.pk]),
        reverse("admin:messaging_provideraccount_changelist"),
        reverse("admin:messaging_provideraccount_history", args=[account.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, (role, url)
        page = response.content.decode()
        assert "0123456789abcdef" not in page, (role, url)
    change = client.get(reverse("admin:messaging_provideraccount_change", args=[account.pk])).content.decode()
    assert "Set (ends …ZX9Q)" in change  # whether it is set, and the last four at most


def test_a_refused_sending_number_shows_the_reason_on_the_form_and_saves_nothing(staff_owner, tenant):
    """The admin said "was added successfully" beside the service's refusal, linking to /None/change/."""
    account = ProviderAccountFactory(tenant=tenant)
    form = {
        "tenant": tenant.pk, "account": account.pk, "sender": "+61485000077", "kind": "alpha",
        "sender_id_status": "registered", "is_active": "on", "warmup_started_on": "2026-01-01",
        "messages_per_second": 10, "warmup_curve": "[50, 100]",
    }  # fmt: skip
    response = client_for(staff_owner).post(reverse("admin:messaging_sendingnumber_add"), form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert "successfully" not in response.content.decode()
    assert not SendingNumber.objects.filter(tenant=tenant).exists()


def test_the_change_form_refuses_a_name_as_a_phone_number_and_a_negative_warmup_cap(staff_owner, tenant):
    """The change form saved "AcmeBakery" as a phone number with the warmup curve [-5]: the rules
    were checked only when a sender was added."""
    account = ProviderAccountFactory(tenant=tenant)
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485000077")
    form = {
        "tenant": tenant.pk, "account": account.pk, "sender": "AcmeBakery", "kind": "number",
        "sender_id_status": "n/a", "is_active": "on", "warmup_started_on": "2026-01-01",
        "messages_per_second": 10, "warmup_curve": "[-5]",
    }  # fmt: skip
    response = client_for(staff_owner).post(reverse("admin:messaging_sendingnumber_change", args=[number.pk]), form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"sender", "warmup_curve"}
    assert "successfully" not in response.content.decode()
    number.refresh_from_db()
    assert (number.sender, number.warmup_curve) == ("+61485000077", [50, 100, 200, 300])
    assert not AuditEvent.objects.filter(tenant=tenant, action="messaging.sending_number_saved").exists()


def test_the_change_form_refuses_an_alphanumeric_sender_without_its_register_status(staff_owner, tenant):
    account = ProviderAccountFactory(tenant=tenant)
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485000077")
    form = {
        "tenant": tenant.pk, "account": account.pk, "sender": "AcmeBakery", "kind": "alpha",
        "sender_id_status": "n/a", "is_active": "on", "warmup_started_on": "2026-01-01",
        "messages_per_second": 10, "warmup_curve": "[50]",
    }  # fmt: skip
    response = client_for(staff_owner).post(reverse("admin:messaging_sendingnumber_change", args=[number.pk]), form)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"sender_id_status"}
    number.refresh_from_db()
    assert number.sender == "+61485000077"


def test_the_change_form_stores_a_number_in_e164_however_it_was_typed(staff_owner, tenant):
    account = ProviderAccountFactory(tenant=tenant)
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485000077")
    form = {
        "tenant": tenant.pk, "account": account.pk, "sender": "0485 000 078", "kind": "number",
        "sender_id_status": "n/a", "is_active": "on", "warmup_started_on": "2026-01-01",
        "messages_per_second": 10, "warmup_curve": "[50]",
    }  # fmt: skip
    response = client_for(staff_owner).post(reverse("admin:messaging_sendingnumber_change", args=[number.pk]), form)
    assert response.status_code == 302
    number.refresh_from_db()
    assert number.sender == "+61485000078"


def test_a_sender_refused_on_adding_never_reads_added_successfully(staff_owner, tenant):
    """Adding "AcmeBakery" as a phone number said "was added successfully" beside the refusal."""
    account = ProviderAccountFactory(tenant=tenant)
    form = {
        "tenant": tenant.pk, "account": account.pk, "sender": "AcmeBakery", "kind": "number",
        "sender_id_status": "n/a", "is_active": "on", "warmup_started_on": "2026-01-01",
        "messages_per_second": 10, "warmup_curve": "[-5]",
    }  # fmt: skip
    response = client_for(staff_owner).post(reverse("admin:messaging_sendingnumber_add"), form, follow=True)
    page = response.content.decode()
    assert "successfully" not in page and "/None/change/" not in page
    assert set(response.context["adminform"].form.errors) == {"sender", "warmup_curve"}
    assert not SendingNumber.objects.filter(tenant=tenant).exists()
