"""What the lifecycle services say when a campaign's state does not allow a change, what a
refused launch names, and that ``updated_at`` follows every change (issue 18: the API maps the
first to 409, lists the second by field, and filters on the third)."""

import datetime as dt

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Campaign, CampaignStatus
from campaigns.tests.factories import CampaignFactory, TemplateFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "service", "message"),
    [
        (CampaignStatus.CANCELLED, services.campaign_resume, "A cancelled campaign cannot be resumed."),
        (CampaignStatus.COMPLETED, services.campaign_pause, "A completed campaign cannot be paused."),
        (CampaignStatus.COMPLETED, services.campaign_cancel, "A completed campaign cannot be cancelled."),
        (CampaignStatus.DRAFT, services.campaign_pause, "A draft campaign cannot be paused."),
    ],
)
def test_a_change_the_state_does_not_allow_is_a_state_error_naming_it(tenant, status, service, message):
    campaign = CampaignFactory(tenant=tenant, status=status)
    with pytest.raises(services.CampaignStateError) as raised:
        service(campaign=campaign, actor=None)
    assert raised.value.messages == [message] and raised.value.status == status
    assert isinstance(raised.value, ValidationError)  # pages show it as any refusal
    campaign.refresh_from_db()
    assert campaign.status == status


def test_a_campaign_cancelled_as_a_draft_cannot_be_launched(tenant):
    campaign = CampaignFactory(tenant=tenant)
    services.campaign_cancel(campaign=campaign, actor=None)
    with pytest.raises(services.CampaignStateError, match="A cancelled campaign cannot be launched."):
        services.campaign_launch(campaign=campaign, actor=None)


def test_a_refused_launch_names_the_setting_each_problem_is_about(tenant):
    template = TemplateFactory(tenant=tenant, bodies=["Shop now: {{ link }}"])
    campaign = CampaignFactory(
        tenant=tenant, template=template, ends_at=timezone.now() - dt.timedelta(hours=1), link_url=""
    )
    with pytest.raises(ValidationError) as raised:
        services.campaign_launch(campaign=campaign, actor=None)
    problems = raised.value.message_dict
    assert problems["link_url"] == [services.LINK_URL_REQUIRED]
    assert problems["ends_at"] == ["The end time has passed."]
    assert problems[NON_FIELD_ERRORS] == [
        "No active sender may be used: add a sending number.",
        "No price per segment is set, so the budget cannot be enforced.",
    ]
    # The page's list is the same problems, in the order they are checked.
    assert services.launch_problems(campaign) == [
        services.LINK_URL_REQUIRED,
        "No active sender may be used: add a sending number.",
        "No price per segment is set, so the budget cannot be enforced.",
        "The end time has passed.",
    ]


def test_updated_at_moves_with_saves_and_with_the_dispatchers_bulk_updates(tenant, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=False)
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.RUNNING)
    created = campaign.updated_at

    time_machine.move_to(dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC), tick=False)
    services.campaign_pause(campaign=campaign, actor=None)  # save(update_fields=["status"])
    campaign.refresh_from_db()
    paused = campaign.updated_at
    assert paused > created

    time_machine.move_to(dt.datetime(2026, 11, 25, 5, 0, tzinfo=dt.UTC), tick=False)
    services.campaign_resume(campaign=campaign, actor=None)
    Campaign.objects.filter(pk=campaign.pk).update(jobs_created_at=timezone.now())
    time_machine.move_to(dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC), tick=False)
    dispatch.campaigns_advance()  # no jobs left: completed by a queryset update()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.updated_at == dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
