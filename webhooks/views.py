"""Settings › Webhooks: subscriptions, their delivery logs, and "send again" (admins)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views import View

from tenants.forms import add_service_errors
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm
from webhooks import selectors, services
from webhooks.forms import SubscriptionForm
from webhooks.models import EventType, WebhookDelivery, WebhookSubscription


class SubscriptionListView(TenantScopedMixin, View):
    """The tenant's subscriptions and the form to add one. The secret is shown once, in the
    answer to the POST that created it (never stored in the session, never shown again)."""

    permission = Perm.SETTINGS_MANAGE

    def get(self, request):
        return self._render(request, SubscriptionForm())

    def post(self, request):
        form = SubscriptionForm(request.POST)
        if form.is_valid():
            try:
                subscription, secret = services.webhook_subscription_create(
                    tenant=request.tenant, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                response = render(request, "webhooks/created.html", {"subscription": subscription, "secret": secret})
                add_never_cache_headers(response)
                return response
        return self._render(request, form, status=400)

    def _render(self, request, form, status=200):
        context = {
            "subscriptions": selectors.subscriptions_of(tenant=request.tenant),
            "form": form,
            "event_types": EventType.choices,
        }
        return render(request, "webhooks/list.html", context, status=status)


class SubscriptionDetailView(TenantScopedMixin, View):
    permission = Perm.SETTINGS_MANAGE

    def get(self, request, pk):
        subscription = self.get_scoped_or_404(WebhookSubscription, pk=pk)
        context = {"subscription": subscription, "deliveries": selectors.delivery_log(subscription=subscription)}
        return render(request, "webhooks/detail.html", context)


class SubscriptionActiveView(TenantScopedMixin, View):
    """POST only: disable or enable a subscription."""

    permission = Perm.SETTINGS_MANAGE
    active = True

    def post(self, request, pk):
        subscription = self.get_scoped_or_404(WebhookSubscription, pk=pk)
        services.webhook_subscription_set_active(subscription=subscription, actor=request.user, active=self.active)
        messages.success(request, f"{subscription.url} is {'enabled' if self.active else 'disabled'}.")
        return redirect("webhooks:detail", pk=subscription.pk)


class SubscriptionDeleteView(TenantScopedMixin, View):
    """POST only: delete a subscription and its delivery log."""

    permission = Perm.SETTINGS_MANAGE

    def post(self, request, pk):
        subscription = self.get_scoped_or_404(WebhookSubscription, pk=pk)
        url = subscription.url
        services.webhook_subscription_delete(subscription=subscription, actor=request.user)
        messages.success(request, f"The subscription of {url} is deleted.")
        return redirect("webhooks:list")


class DeliverySendAgainView(TenantScopedMixin, View):
    """POST only: send one delivery of the subscription again."""

    permission = Perm.SETTINGS_MANAGE

    def post(self, request, pk, delivery_pk):
        subscription = self.get_scoped_or_404(WebhookSubscription, pk=pk)
        delivery = self.get_scoped_or_404(WebhookDelivery.objects.select_related("subscription"), pk=delivery_pk)
        if delivery.subscription_id != subscription.pk:
            raise Http404("No such delivery.")
        try:
            services.webhook_delivery_send_again(delivery=delivery, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"The {delivery.event_type} event is being sent again.")
        return redirect("webhooks:detail", pk=subscription.pk)
