"""The dashboard's figures as a tag, so the tenants app's page shows them without importing reporting."""

from django import template

from reporting.dashboard import dashboard

register = template.Library()


@register.inclusion_tag("reporting/_dashboard.html", takes_context=True)
def tenant_dashboard(context):
    tenant = context["request"].tenant
    return {**dashboard(tenant), "tenant": tenant, "current_tenant": tenant}
