"""The summary at the top of a form that has errors: a heading that counts the problems and a link
to each field (the GOV.UK error summary). static/js/form-errors.js moves focus to it on load."""

from django import forms, template

register = template.Library()


def _target(field: forms.BoundField) -> str:
    """The id a link to ``field`` goes to: its input, or the first choice of a radio group."""
    if field.is_hidden or not field.auto_id:
        return ""
    if field.use_fieldset:
        return field.field.widget.id_for_label(field.auto_id, 0)
    return field.id_for_label


@register.inclusion_tag("form_error_summary.html")
def error_summary(*forms_shown):
    """``{% error_summary form other_form %}``: every problem of the forms, in page order."""
    problems = []
    for form in forms_shown:
        if not form or not form.is_bound or not form.errors:
            continue
        problems += [{"label": "", "message": error, "target": ""} for error in form.non_field_errors()]
        for field in form:
            target = _target(field)
            problems += [{"label": field.label, "message": error, "target": target} for error in field.errors]
    return {"problems": problems}
