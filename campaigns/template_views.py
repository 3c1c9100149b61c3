"""The message templates' pages: the list, a new template, a template's page (each variant
previewed as recipients see it, and what it costs in segments; staff and up edit it there) and
replacing look-alike characters with GSM-7 ones. Thin: parse, call a service or selector, render."""

import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.views import View

from campaigns import selectors, services
from campaigns.forms import TemplateForm
from campaigns.models import Template
from campaigns.rendering import BUILTIN_FIELDS
from messaging.segments import gsm_replace, segment_info
from tenants.forms import add_service_errors
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm

# The service names a variant's problem "Variant N: …", N counting the non-empty bodies.
_VARIANT_PROBLEM = re.compile(r"^Variant (\d+): (.*)$", re.DOTALL)


def _placeholders(custom: list[str]) -> list[str]:
    """Every name a placeholder may use: the built-in fields, then the tenant's custom fields."""
    return [*BUILTIN_FIELDS, *(name for name in custom if name not in BUILTIN_FIELDS)]


def _template_save_errors(form: TemplateForm, exc: ValidationError, fields: list[str]) -> None:
    """Put each "Variant N: …" problem next to the box it came from; the rest on the form."""
    if hasattr(exc, "error_dict"):
        add_service_errors(form, exc)
        return
    for message in exc.messages:
        match = _VARIANT_PROBLEM.match(message)
        index = int(match[1]) - 1 if match else -1
        if 0 <= index < len(fields):
            form.add_error(fields[index], match[2])
        else:
            form.add_error(None, message)


def _template(view: TenantScopedMixin, pk) -> Template:
    return view.get_scoped_or_404(Template.objects.select_related("tenant"), pk=pk)


class TemplateListView(TenantScopedMixin, View):
    def get(self, request):
        templates = self.scoped(Template).annotate(
            variant_count=Count("variants", distinct=True), campaign_count=Count("campaigns", distinct=True)
        )
        return render(request, "campaigns/template_list.html", {"templates": templates})


class TemplateCreateView(TenantScopedMixin, View):
    permission = Perm.CAMPAIGNS_DRAFT

    def get(self, request):
        return render(
            request,
            "campaigns/template_form.html",
            {
                "form": TemplateForm(),
                "placeholders": _placeholders(selectors.custom_field_names(tenant=request.tenant)),
            },
        )

    def post(self, request):
        form = TemplateForm(request.POST)
        if form.is_valid():
            bodies, fields = form.bodies()
            try:
                template = services.template_save(
                    tenant=request.tenant, actor=request.user, name=form.cleaned_data["name"], bodies=bodies
                )
            except ValidationError as exc:
                _template_save_errors(form, exc, fields)
            else:
                messages.success(request, f"Template {template.name!r} saved.")
                return redirect("campaigns:template", pk=template.pk)
        return render(
            request,
            "campaigns/template_form.html",
            {"form": form, "placeholders": _placeholders(selectors.custom_field_names(tenant=request.tenant))},
            status=400,
        )


class TemplateDetailView(TenantScopedMixin, View):
    """The template page: every role sees the previews; staff and up edit it here."""

    post_permission = Perm.CAMPAIGNS_DRAFT

    def _render(self, request, template, form=None, status=200):
        custom = selectors.custom_field_names(tenant=request.tenant)
        previews = selectors.variant_previews(
            tenant=template.tenant, bodies=[variant.body for variant in template.variants.all()], custom=custom
        )
        return render(
            request,
            "campaigns/template_form.html",
            {
                "template": template,
                "form": form or TemplateForm(initial=TemplateForm.initial_for(template)),
                "previews": previews,
                "replaceable": any(preview.replaceable for preview in previews),
                "placeholders": _placeholders(custom),
                "locked": selectors.template_locked(template),
            },
            status=status,
        )

    def get(self, request, pk):
        return self._render(request, _template(self, pk))

    def post(self, request, pk):
        template = _template(self, pk)
        form = TemplateForm(request.POST)
        if form.is_valid():
            bodies, fields = form.bodies()
            try:
                services.template_save(
                    tenant=request.tenant,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    bodies=bodies,
                    template=template,
                )
            except ValidationError as exc:
                _template_save_errors(form, exc, fields)
            else:
                messages.success(request, "Template saved.")
                return redirect("campaigns:template", pk=template.pk)
        return self._render(request, template, form=form, status=400)


class TemplateGsmReplaceView(TenantScopedMixin, View):
    """Swap smart quotes, dashes and the like for GSM-7 ones in every variant, and save."""

    permission = Perm.CAMPAIGNS_DRAFT

    def post(self, request, pk):
        template = _template(self, pk)
        bodies = [variant.body for variant in template.variants.all()]
        replaced = [gsm_replace(body) for body in bodies]
        if replaced == bodies:
            messages.info(request, "Nothing to replace: no variant has look-alike characters.")
            return redirect("campaigns:template", pk=template.pk)
        try:
            services.template_save(
                tenant=request.tenant, actor=request.user, name=template.name, bodies=replaced, template=template
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            still = sorted({char for body in replaced for char in segment_info(body).non_gsm})
            if still:
                messages.warning(
                    request,
                    "Look-alike characters replaced. These have no GSM-7 equivalent and still need UCS-2: "
                    + " ".join(still),
                )
            else:
                messages.success(request, "Look-alike characters replaced with GSM-7 ones.")
        return redirect("campaigns:template", pk=template.pk)
