"""Writes of the campaigns app: templates, campaigns and their lifecycle, send jobs."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from campaigns import selectors
from campaigns.models import Campaign, CampaignStatus, GateOutcome, JobStatus, SendJob, Template, Variant
from campaigns.rendering import uses_link, validate_body
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import Message, MessageStatus
from smscrm.queueing import enqueue_after_commit
from tenants import killswitch
from tenants.models import Tenant
from tenants.services import acting_user, audit_record


class CampaignAction:
    TEMPLATE_SAVED = "template.saved"
    TEMPLATE_DELETED = "template.deleted"
    CAMPAIGN_CREATED = "campaign.created"
    CAMPAIGN_UPDATED = "campaign.updated"
    CAMPAIGN_LAUNCHED = "campaign.launched"
    CAMPAIGN_PAUSED = "campaign.paused"
    CAMPAIGN_RESUMED = "campaign.resumed"
    CAMPAIGN_CANCELLED = "campaign.cancelled"
    JOB_DECIDED = "campaign.job_decided"


class CampaignStateError(ValidationError):
    """A lifecycle change the campaign's state does not allow (resuming a cancelled campaign,
    launching one cancelled as a draft). A ValidationError, so pages show it as any refusal; the
    API answers it 409, not 400: the request was well formed, the campaign is in the wrong state.
    ``status`` is the state the campaign is in."""

    def __init__(self, message: str, *, status: str):
        super().__init__(message, code="wrong_state")
        self.status = status


def _check_bodies(tenant: Tenant, bodies: Sequence[str]) -> list[str]:
    bodies = [body for body in bodies if body.strip()]
    if not bodies:
        raise ValidationError("A template needs at least one variant.")
    custom = selectors.custom_field_names(tenant=tenant)
    problems = []
    for number, body in enumerate(bodies, start=1):
        if len(body) > 1600:
            problems.append(f"Variant {number}: {len(body)} characters; at most 1,600.")
        problems += [f"Variant {number}: {problem}" for problem in validate_body(body, custom_fields=custom)]
    if problems:
        raise ValidationError(problems)
    return bodies


# The code of a refusal that is about the template's state, not the request (the API answers 409).
TEMPLATE_LOCKED = "template_locked"
TEMPLATE_IN_USE = "template_in_use"


def template_save(
    *, tenant: Tenant, actor, name: str, bodies: Sequence[str], template: Template | None = None
) -> Template:
    """Create or replace a template and its variants; an unknown placeholder is refused here."""
    bodies = _check_bodies(tenant, bodies)
    with transaction.atomic():
        if template is None:
            if Template.objects.filter(tenant=tenant, name=name).exists():
                raise ValidationError({"name": f"A template called {name!r} exists already."})
            template = Template.objects.create(tenant=tenant, name=name)
        else:
            if Template.objects.filter(tenant=tenant, name=name).exclude(pk=template.pk).exists():
                raise ValidationError({"name": f"A template called {name!r} exists already."})
            if selectors.template_locked(template):
                raise ValidationError(
                    "This template belongs to a launched campaign; copy it to change it.", code=TEMPLATE_LOCKED
                )
            template.name = name
            template.save(update_fields=["name", "updated_at"])
            template.variants.all().delete()
        Variant.objects.bulk_create(
            [Variant(template=template, position=position, body=body) for position, body in enumerate(bodies)]
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action=CampaignAction.TEMPLATE_SAVED,
            target=name,
            data={"variants": len(bodies)},
        )
    return template


def template_delete(*, template: Template, actor) -> None:
    """Delete a template and its variants. Refused while any campaign, a draft included, uses it:
    a campaign keeps the template it was written with (the key is protected), so the person
    deletes or re-points those campaigns first."""
    with transaction.atomic():
        locked = Template.objects.select_for_update().get(pk=template.pk)
        names = list(locked.campaigns.order_by("name").values_list("name", flat=True)[:6])
        if names:
            shown = ", ".join(repr(name) for name in names[:5]) + (" and others" if len(names) > 5 else "")
            raise ValidationError(
                f"Campaigns use this template ({shown}): delete them or give them another template first.",
                code=TEMPLATE_IN_USE,
            )
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=CampaignAction.TEMPLATE_DELETED,
            target=locked.name,
            data={"variants": locked.variants.count()},
        )
        locked.delete()


LINK_URL_REQUIRED = "The template uses {{ link }}: give the Link URL it points to (or remove {{ link }})."


def link_url_problem(*, template: Template, link_url: str) -> str | None:
    """Why a campaign of ``template`` needs a Link URL it lacks; None when it is fine.

    A ``{{ link }}`` without a Link URL would send "Shop now:" with nothing after it.
    """
    if link_url.strip() or not any(uses_link(variant.body) for variant in template.variants.all()):
        return None
    return LINK_URL_REQUIRED


def _check_campaign_fields(*, tenant: Tenant, template: Template, link_url: str, starts_at, ends_at) -> None:
    """The rules every campaign's settings keep, whoever writes them (page, admin, command)."""
    if template.tenant_id != tenant.id:
        raise ValidationError("Unknown template.")
    errors = {}
    if starts_at and ends_at and ends_at <= starts_at:
        errors["ends_at"] = "The end must come after the start."
    if problem := link_url_problem(template=template, link_url=link_url):
        errors["link_url"] = problem
    if errors:
        raise ValidationError(errors)


def campaign_create(
    *,
    tenant: Tenant,
    actor,
    name: str,
    template: Template,
    tags: Sequence[str] = (),
    link_url: str = "",
    starts_at=None,
    ends_at=None,
) -> Campaign:
    _check_campaign_fields(tenant=tenant, template=template, link_url=link_url, starts_at=starts_at, ends_at=ends_at)
    with transaction.atomic():
        campaign = Campaign.objects.create(
            tenant=tenant,
            name=name,
            template=template,
            tags=[tag.strip() for tag in tags if tag.strip()],
            link_url=link_url,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=acting_user(actor),
        )
        audit_record(tenant=tenant, actor=actor, action=CampaignAction.CAMPAIGN_CREATED, target=name)
    return campaign


def campaign_update(
    *,
    campaign: Campaign,
    actor,
    name: str,
    template: Template,
    tags: Sequence[str] = (),
    link_url: str = "",
    starts_at=None,
    ends_at=None,
) -> Campaign:
    """Change a draft's settings; a launched campaign is refused (its jobs are made already)."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("tenant").get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            raise ValidationError(f"The campaign is {locked.get_status_display().lower()}: only a draft can be edited.")
        _check_campaign_fields(
            tenant=locked.tenant, template=template, link_url=link_url, starts_at=starts_at, ends_at=ends_at
        )
        locked.name = name
        locked.template = template
        locked.tags = [tag.strip() for tag in tags if tag.strip()]
        locked.link_url = link_url
        locked.starts_at = starts_at
        locked.ends_at = ends_at
        locked.save(update_fields=["name", "template", "tags", "link_url", "starts_at", "ends_at"])
        audit_record(tenant=locked.tenant, actor=actor, action=CampaignAction.CAMPAIGN_UPDATED, target=name)
    return locked


def launch_problems(campaign: Campaign) -> list[str]:
    """Why a campaign cannot launch now; [] when it can."""
    return [problem for _setting, problem in launch_problems_by_setting(campaign)]


def launch_problems_by_setting(campaign: Campaign) -> list[tuple[str, str]]:
    """(setting, problem) for each reason a campaign cannot launch now, in the order
    ``launch_problems`` gives them. The setting is the campaign's field the problem is about
    (``template``, ``link_url``, ``ends_at``), or NON_FIELD_ERRORS for the campaign as a whole
    (its state, the tenant's senders and prices): the API names the field, as a form would."""
    problems = []
    tenant = campaign.tenant
    if campaign.status != CampaignStatus.DRAFT:
        problems.append((NON_FIELD_ERRORS, f"The campaign is {campaign.get_status_display().lower()}, not a draft."))
    try:
        _check_bodies(tenant, [variant.body for variant in campaign.template.variants.all()])
    except ValidationError as exc:
        problems += [("template", message) for message in exc.messages]
    if problem := link_url_problem(template=campaign.template, link_url=campaign.link_url):
        problems.append(("link_url", problem))
    senders = list(messaging_selectors.senders_of(tenant=tenant).filter(is_active=True))
    if not any(sender.can_launch for sender in senders):
        blocked = [str(sender) for sender in senders if not sender.can_launch]
        problems.append(
            (
                NON_FIELD_ERRORS,
                "No active sender may be used: "
                + (
                    f"{', '.join(blocked)} is not on ACMA's Sender ID Register." if blocked else "add a sending number."
                ),
            )
        )
    prices = messaging_selectors.prices_on(tenant=tenant, day=timezone.localdate(timezone=tenant.zone))
    usable = sorted({sender.account.provider for sender in senders if sender.can_launch})
    if not prices:
        problems.append((NON_FIELD_ERRORS, "No price per segment is set, so the budget cannot be enforced."))
    elif usable and not any(provider in usable for provider, _country in prices):
        problems.append(
            (
                NON_FIELD_ERRORS,
                f"No price per segment is set for {', '.join(usable)}, the provider of your active senders, so "
                "the budget cannot be enforced.",
            )
        )
    if campaign.ends_at and campaign.ends_at <= timezone.now():
        problems.append(("ends_at", "The end time has passed."))
    return problems


# A launched campaign's jobs are made by a task queued at commit; a campaign still without jobs
# this long after its launch lost that task (the broker was down, or restarted empty): the
# periodic sweep makes them.
PREPARE_GRACE_SECONDS = 30


def campaign_launch(*, campaign: Campaign, actor) -> Campaign:
    """Launch: scheduled (future start) or running, and the jobs created by a task at commit.

    The launch is recorded in the database first (status, ``jobs_created_at`` empty): that is
    the intent, which ``campaigns_prepare_pending`` finishes if the task never runs.
    """
    from campaigns.tasks import campaign_create_jobs

    with transaction.atomic():
        locked = Campaign.objects.select_for_update().select_related("tenant", "template").get(pk=campaign.pk)
        if locked.status != CampaignStatus.DRAFT:
            if locked.launched_at is None:  # cancelled while a draft: it never will be
                raise CampaignStateError(
                    f"A {locked.get_status_display().lower()} campaign cannot be launched.", status=locked.status
                )
            return locked  # launched already: launching twice changes nothing
        problems = launch_problems_by_setting(locked)
        if problems:
            by_setting: dict[str, list[str]] = {}
            for setting, problem in problems:
                by_setting.setdefault(setting, []).append(problem)
            raise ValidationError(by_setting)
        now = timezone.now()
        # While still a draft: the estimate counts the audience then (after, the jobs, not made yet).
        locked.estimated_cost_cents = selectors.estimate(campaign=locked).cost_cents  # kept for the report
        locked.status = (
            CampaignStatus.SCHEDULED if locked.starts_at and locked.starts_at > now else CampaignStatus.RUNNING
        )
        locked.launched_at = now
        locked.launched_by = acting_user(actor)
        locked.save(update_fields=["status", "launched_at", "launched_by", "estimated_cost_cents"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=CampaignAction.CAMPAIGN_LAUNCHED,
            target=locked.name,
            data={"status": locked.status},
        )
        enqueue_after_commit(campaign_create_jobs, locked.pk)
    return locked


def campaign_create_jobs(*, campaign_id: int) -> int:
    """Materialise one SendJob per audience contact in one INSERT … SELECT; safe to run twice.

    Variants rotate by the contact's rank in id order, so each variant gets an equal share ±1
    and a re-run assigns the same ones. Returns the number of jobs the campaign has.
    """
    campaign = Campaign.objects.select_related("tenant", "template").get(pk=campaign_id)
    if campaign.status in (CampaignStatus.DRAFT, CampaignStatus.CANCELLED):
        return 0
    variants = max(campaign.template.variants.count(), 1)
    audience_sql, audience_params = selectors.audience(campaign=campaign).values_list("id").query.sql_with_params()
    first_attempt = campaign.starts_at or campaign.launched_at or timezone.now()
    # The table and the audience's SQL come from Django; every value is a parameter.
    insert = (
        f"INSERT INTO {SendJob._meta.db_table} (tenant_id, campaign_id, contact_id, variant_index, status,"  # noqa: S608
        " next_attempt_at, attempts, gate, outcome, reason)"
        " SELECT %s, %s, audience.id, (ROW_NUMBER() OVER (ORDER BY audience.id) - 1) %% %s,"
        f" %s, %s, 0, '', '', '' FROM ({audience_sql}) AS audience WHERE true"
        " ON CONFLICT DO NOTHING"
    )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                insert,
                [campaign.tenant_id, campaign.id, variants, JobStatus.PENDING, first_attempt, *audience_params],
            )
        total = SendJob.objects.filter(campaign=campaign).count()
        Campaign.objects.filter(pk=campaign.pk).update(jobs_created_at=timezone.now(), jobs_total=total)
    return total


PREPARING = (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def campaigns_prepare_pending(*, now=None) -> list[int]:
    """Make the jobs of launched campaigns that have none yet (their task was lost); their ids."""
    now = now or timezone.now()
    pending = list(
        Campaign.objects.filter(
            status__in=PREPARING,
            jobs_created_at__isnull=True,
            launched_at__lte=now - timezone.timedelta(seconds=PREPARE_GRACE_SECONDS),
        )
        .order_by("launched_at")
        .values_list("id", flat=True)
    )
    for campaign_id in pending:
        campaign_create_jobs(campaign_id=campaign_id)
    return pending


def _transition(*, campaign: Campaign, actor, allowed: Sequence[str], to: str, action: str, verb: str) -> Campaign:
    """Move the campaign to ``to`` from one of ``allowed``; already there, nothing changes. From
    any other state: CampaignStateError ("A cancelled campaign cannot be resumed.")."""
    with transaction.atomic():
        if to != CampaignStatus.RUNNING:
            # Stopping: wait for the hand-off chunks under way; none starts after this commits.
            killswitch.hold_for_pause(campaign.tenant_id)
        locked = Campaign.objects.select_for_update().select_related("tenant").get(pk=campaign.pk)
        if locked.status == to:
            return locked
        if locked.status not in allowed:
            raise CampaignStateError(
                f"A {locked.get_status_display().lower()} campaign cannot be {verb}.", status=locked.status
            )
        locked.status = to
        fields = ["status"]
        if to == CampaignStatus.CANCELLED:
            now = timezone.now()
            SendJob.objects.filter(campaign=locked, status=JobStatus.PENDING).update(
                status=JobStatus.CANCELLED, outcome=GateOutcome.SKIP, reason="Campaign cancelled.", decided_at=now
            )
            locked.completed_at = now
            fields.append("completed_at")
        locked.save(update_fields=fields)
        audit_record(tenant=locked.tenant, actor=actor, action=action, target=locked.name)
    return locked


def campaign_pause(*, campaign: Campaign, actor) -> Campaign:
    """Stop a campaign at once: it waits for a hand-off chunk in flight, then nothing more goes."""
    return _transition(
        campaign=campaign,
        actor=actor,
        allowed=(CampaignStatus.RUNNING, CampaignStatus.SCHEDULED),
        to=CampaignStatus.PAUSED,
        action=CampaignAction.CAMPAIGN_PAUSED,
        verb="paused",
    )


def campaign_resume(*, campaign: Campaign, actor) -> Campaign:
    """Back to running (or scheduled, when its start is still ahead); held jobs go again."""
    to = (
        CampaignStatus.SCHEDULED
        if campaign.starts_at and campaign.starts_at > timezone.now()
        else CampaignStatus.RUNNING
    )
    return _transition(
        campaign=campaign,
        actor=actor,
        allowed=(CampaignStatus.PAUSED,),
        to=to,
        action=CampaignAction.CAMPAIGN_RESUMED,
        verb="resumed",
    )


def campaign_cancel(*, campaign: Campaign, actor) -> Campaign:
    return _transition(
        campaign=campaign,
        actor=actor,
        allowed=(CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED),
        to=CampaignStatus.CANCELLED,
        action=CampaignAction.CAMPAIGN_CANCELLED,
        verb="cancelled",
    )


def send_job_decide(*, job: SendJob, actor, decision: str) -> SendJob:
    """A person settles an ``unknown`` job: "sent" (it did go) or "resend" (it did not)."""
    if decision not in ("sent", "resend"):
        raise ValidationError("Choose sent or resend.")
    with transaction.atomic():
        locked = SendJob.objects.select_for_update(of=("self",)).select_related("message", "campaign").get(pk=job.pk)
        if locked.status != JobStatus.UNKNOWN:
            raise ValidationError("Only a job whose outcome is unknown can be settled.")
        now = timezone.now()
        if decision == "sent":
            locked.status = JobStatus.SENT
            if locked.message_id:
                Message.objects.filter(pk=locked.message_id).update(status=MessageStatus.SENT, status_at=now)
        else:
            message = locked.message
            if message is not None:
                # No longer live, so the campaign may send this contact one message again; the
                # reservation made for it (budget and the sender's warmup count) is given back.
                Message.objects.filter(pk=message.pk).update(
                    status=MessageStatus.REJECTED, error_message="Settled as not sent by a person."
                )
                tenant = locked.campaign.tenant
                day, month = messaging_services.local_periods(tenant, message.created_at)
                messaging_services.reservation_release(tenant=tenant, messages=[message], day=day, month=month)
            locked.status, locked.message, locked.next_attempt_at = JobStatus.PENDING, None, now
        locked.reason = f"Settled by a person: {decision}."
        locked.decided_at = now
        locked.save(update_fields=["status", "message", "next_attempt_at", "reason", "decided_at"])
        audit_record(
            tenant=locked.campaign.tenant,
            actor=actor,
            action=CampaignAction.JOB_DECIDED,
            target=f"{locked.campaign.name} / contact {locked.contact_id}",
            data={"decision": decision},
        )
    return locked
