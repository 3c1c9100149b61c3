"""The SMS body renderer: placeholder syntax, fallbacks, errors at save time, no injection, and
finalise() adding the sender and the opt-out line exactly once (Spam Act ss17-18).

Pure functions: no database.
"""

from __future__ import annotations

import pytest

from campaigns.rendering import (
    BUILTIN_FIELDS,
    CompiledBody,
    Placeholder,
    TemplateError,
    compile_body,
    finalise,
    placeholders,
    render,
    render_message,
    validate_body,
)

BUSINESS = "Acme Bakery"
OPT_OUT = "Reply STOP to opt out"


def fin(text: str, *, business_name: str = BUSINESS, opt_out_line: str = OPT_OUT) -> str:
    return finalise(text, business_name=business_name, opt_out_line=opt_out_line)


def rendered(body: str, values: dict, **compile_kwargs) -> str:
    return render(compile_body(body, **compile_kwargs), values)


# --- Parsing ---------------------------------------------------------------------------------


def test_builtin_fields():
    assert BUILTIN_FIELDS == ("first_name", "last_name", "business_name", "link")


@pytest.mark.parametrize(
    "body",
    ["Hi {{first_name}}!", "Hi {{ first_name }}!", "Hi {{   first_name\t}}!", "Hi {{\nfirst_name\n}}!"],
)
def test_placeholder_parsed_with_or_without_spaces(body):
    (item,) = placeholders(body)
    assert item.name == "first_name"
    assert item.fallback == ""
    assert item.start == 3
    assert body[item.start : item.end].startswith("{{") and body[item.start : item.end].endswith("}}")
    assert body[item.end :] == "!"


@pytest.mark.parametrize(
    "body",
    ["{{first_name|there}}", "{{ first_name|there }}", "{{ first_name | there }}", "{{first_name|  there  }}"],
)
def test_fallback_parsed_and_trimmed(body):
    assert placeholders(body) == [Placeholder("first_name", "there", 0, len(body))]


def test_fallback_may_hold_spaces_and_punctuation():
    (item,) = placeholders("{{ first_name|valued customer, 50% off! }}")
    assert item.fallback == "valued customer, 50% off!"


def test_placeholders_in_order_with_positions():
    body = "Hi {{ first_name }}, see {{link}}"
    found = placeholders(body)
    assert [(p.name, p.start, p.end) for p in found] == [("first_name", 3, 19), ("link", 25, 33)]
    assert [body[p.start : p.end] for p in found] == ["{{ first_name }}", "{{link}}"]


def test_plain_text_has_no_placeholders_and_a_lone_closing_brace_pair_is_literal():
    assert placeholders("Sale on now :-) }} ok") == []
    assert validate_body("Sale on now :-) }} ok") == []
    assert compile_body("a }} b").parts == ("a }} b",)


def test_compile_splits_literals_and_pairs():
    compiled = compile_body("Hi {{ first_name|there }}, {{link}}")
    assert compiled == CompiledBody(("Hi ", ("first_name", "there"), ", ", ("link", "")))


# --- Errors at save time ---------------------------------------------------------------------


def test_unknown_placeholder_named_with_its_position_and_the_known_names():
    (error,) = validate_body("Hi {{ frist_name }}", custom_fields=["suburb"])
    assert error == (
        "Unknown placeholder {{ frist_name }} at character 4; "
        "known: first_name, last_name, business_name, link, suburb."
    )


def test_compile_body_raises_on_unknown_placeholder():
    with pytest.raises(TemplateError) as caught:
        compile_body("Hello\n{{ frist_name }}")
    assert len(caught.value.errors) == 1
    assert "{{ frist_name }} at character 7" in caught.value.errors[0]
    assert isinstance(caught.value, ValueError)
    assert "frist_name" in str(caught.value)


def test_every_problem_is_reported_in_order_of_position():
    errors = validate_body("{{ a }} {{ first_name }} {% if x %} {{ b }}")
    assert len(errors) == 3
    assert "{{ a }} at character 1" in errors[0]
    assert "{% if x %}" in errors[1] and "character 26" in errors[1]
    assert "{{ b }} at character 37" in errors[2]


def test_custom_fields_are_accepted():
    body = "Hi {{ first_name }} in {{ suburb|your area }}"
    assert validate_body(body, custom_fields=["suburb", "postcode"]) == []
    assert validate_body(body) != []
    assert rendered(body, {"first_name": "Pat", "suburb": "Fitzroy"}, custom_fields=("suburb",)) == "Hi Pat in Fitzroy"


def test_custom_fields_may_be_any_iterable():
    assert compile_body("{{ suburb }}", custom_fields=iter(["suburb"])).parts == (("suburb", ""),)
    assert compile_body("{{ suburb }}", custom_fields={"suburb"}).parts == (("suburb", ""),)


@pytest.mark.parametrize(
    "body",
    [
        "{% if first_name %}Hi{% endif %}",
        "{% load static %}",
        "{%comment%}x{%endcomment%}",
        "Hi {% first_name %}",
    ],
)
def test_tags_are_rejected(body):
    errors = validate_body(body)
    assert errors and all("not allowed" in error for error in errors)
    with pytest.raises(TemplateError):
        compile_body(body)
    with pytest.raises(TemplateError):
        placeholders(body)


@pytest.mark.parametrize(
    "body",
    [
        "{{ contact.first_name }}",
        "{{ first_name|upper|lower }}",
        "{{ First_Name }}",
        "{{ 1st }}",
        "{{ }}",
        "{{ first name }}",
        "{{ first_name.__class__ }}",
    ],
)
def test_attribute_access_filters_and_bad_names_are_rejected(body):
    (error,) = validate_body(body)
    assert error.startswith(f"Invalid placeholder {body} at character 1")


def test_unclosed_placeholder_is_an_error_at_its_position():
    (error,) = validate_body("Hi {{ first_name, see {{ link }}")
    assert error.startswith("Unclosed {{ at character 4")
    (error,) = validate_body("Hi {{ first_name")
    assert "Unclosed {{ at character 4" in error
    (error,) = validate_body("50% {% off")
    assert "character 5" in error


def test_placeholders_does_not_check_names():
    assert [p.name for p in placeholders("{{ anything }}")] == ["anything"]


# --- Rendering -------------------------------------------------------------------------------


@pytest.mark.parametrize("values", [{}, {"first_name": ""}, {"first_name": "   "}, {"first_name": None}])
def test_fallback_used_for_missing_empty_or_blank_values(values):
    assert rendered("Hi {{ first_name|there }}!", values) == "Hi there!"


@pytest.mark.parametrize("values", [{}, {"first_name": ""}, {"first_name": " \t"}])
def test_no_fallback_gives_empty(values):
    assert rendered("Hi {{ first_name }}!", values) == "Hi !"


def test_value_used_when_present():
    assert rendered("Hi {{ first_name|there }}, {{ link }}", {"first_name": " Pat ", "link": "https://x.au/a"}) == (
        "Hi Pat, https://x.au/a"
    )


@pytest.mark.parametrize(
    "evil",
    ["{{ link }}", "{% load %}", "{{ first_name|x }}", "{% if 1 %}x{% endif %}", "}}{{", "\\1 $1 %s {0}"],
)
def test_values_are_inserted_literally_never_rendered(evil):
    body = "Hi {{ first_name }}, go to {{ link }}"
    text = rendered(body, {"first_name": evil, "link": "https://x.au/a"})
    assert text == f"Hi {evil.strip()}, go to https://x.au/a"
    assert text.count("https://x.au/a") == 1


def test_injected_value_survives_finalise_literally():
    compiled = compile_body("Hi {{ first_name }}")
    text = render_message(compiled, {"first_name": "{{ link }}"}, business_name=BUSINESS, opt_out_line=OPT_OUT)
    assert text == "Acme Bakery: Hi {{ link }}\nReply STOP to opt out"


def test_render_does_not_mutate_compiled_or_values():
    compiled = compile_body("{{ first_name|there }}")
    values = {"first_name": "  Pat  "}
    render(compiled, values)
    assert values == {"first_name": "  Pat  "}
    assert compiled.parts == (("first_name", "there"),)


# --- finalise: sender identification ---------------------------------------------------------


def test_business_name_prefixed_when_missing():
    assert fin("Hi Pat") == "Acme Bakery: Hi Pat\nReply STOP to opt out"


@pytest.mark.parametrize(
    "text",
    [
        "Acme Bakery: Hi Pat",
        "Hi Pat, love from ACME BAKERY",
        "Hi Pat, love from acme\n  bakery",
        "Hi from the Acme Bakery team!",
    ],
)
def test_business_name_not_added_when_present(text):
    out = fin(text)
    assert out.casefold().count("acme") == 1
    assert out.startswith(text)


def test_business_name_must_be_whole_words():
    # "Ace" inside "Place" does not identify the sender.
    assert fin("Place your order", business_name="Ace").startswith("Ace: Place your order")
    assert fin("Ace: Place your order", business_name="Ace").startswith("Ace: Place your order")


def test_business_name_inside_a_url_does_not_count():
    assert fin("Order at https://acme.example/x", business_name="Acme").startswith("Acme: Order at https://")
    assert fin("Order at www.acme.example", business_name="Acme").startswith("Acme: Order at www.")
    assert fin("Acme: order at https://acme.example/x", business_name="Acme").startswith("Acme: order at")


def test_prefix_replaces_leading_whitespace():
    assert fin("  Hi Pat") == "Acme Bakery: Hi Pat\nReply STOP to opt out"


def test_business_name_added_once_through_render_message():
    compiled = compile_body("{{ business_name }} says hi {{ first_name }}")
    values = {"business_name": BUSINESS, "first_name": "Pat"}
    text = render_message(compiled, values, business_name=BUSINESS, opt_out_line=OPT_OUT)
    assert text == "Acme Bakery says hi Pat\nReply STOP to opt out"


# --- finalise: opt-out line ------------------------------------------------------------------


def test_opt_out_line_appended_on_its_own_last_line():
    out = fin("Acme Bakery: 20% off today   \n\n")
    assert out == "Acme Bakery: 20% off today\nReply STOP to opt out"
    assert out.splitlines()[-1] == OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "Acme Bakery: sale. Reply STOP to opt out",
        "Acme Bakery: sale. reply stop to OPT OUT",
        "Acme Bakery: sale. Reply  STOP\nto opt out",
        "Acme Bakery: sale. Reply STOP to opt out.",
        "Acme Bakery: sale. Reply STOP to opt out!",
        "Acme Bakery: sale.\nREPLY STOP TO OPT OUT.  ",
    ],
)
def test_opt_out_line_not_doubled_when_present_in_other_case_spacing_or_punctuation(text):
    assert fin(text) == text
    assert fin(text).casefold().count("stop") == 1


@pytest.mark.parametrize(
    "text",
    [
        "Acme Bakery: sale. Reply STOP to unsubscribe",
        "Acme Bakery: sale. Text STOP to 0412 345 678",
        "Acme Bakery: sale. txt stop to end",
        "Acme Bakery: sale. SMS STOP to 0412345678",
        "Acme Bakery: sale. Opt out: reply stop",
        "Acme Bakery: sale. Send STOP to quit",
        "Acme Bakery: sale. Reply with the word 'STOP' to unsubscribe",
        "Acme Bakery: sale. Reply \u201cSTOP\u201d to opt-out",
    ],
)
def test_equivalent_unsubscribe_instruction_counts(text):
    assert fin(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "Acme Bakery: text us anytime, or stop by the shop",
        "Acme Bakery: text us and stop by",
        "Acme Bakery: we'd love a reply. Stop in soon",
        "Acme Bakery: send your friends our way, don't stop",
        "Acme Bakery: bus stop 12",
        "Acme Bakery: reply back - stop in and see us",
        "Acme Bakery: don't forget to reply. Stop wasting time",
        "Acme Bakery: just text: stop over for coffee",
    ],
)
def test_ordinary_copy_mentioning_stop_is_not_an_opt_out(text):
    assert fin(text) == f"{text}\n{OPT_OUT}"


def test_custom_opt_out_line_recognised():
    line = "To unsubscribe, reply UNSUBSCRIBE"
    text = "Acme Bakery: sale. to unsubscribe,  reply unsubscribe"
    assert fin(text, opt_out_line=line) == text
    assert fin("Acme Bakery: sale", opt_out_line=line) == f"Acme Bakery: sale\n{line}"


def test_opt_out_line_trailing_punctuation_ignored_when_matching():
    line = "Opt out: txt STOP."
    text = "Acme Bakery: sale. Opt out: TXT stop"
    assert fin(text, opt_out_line=line) == text
    assert fin("Acme Bakery: sale", opt_out_line=line) == f"Acme Bakery: sale\n{line}"


@pytest.mark.parametrize("stored", ["Thanks!", "Unsubscribe at https://s.example/u", "Do not reply STOP"])
def test_a_stored_line_without_an_instruction_is_replaced_by_the_default(stored):
    """Lines saved before the model refused them: no message ever goes without a working opt-out."""
    assert fin("Acme Bakery: sale", opt_out_line=stored) == "Acme Bakery: sale\nReply STOP to opt out"


@pytest.mark.parametrize(
    ("line", "instructs"),
    [
        ("Reply STOP to opt out", True),
        ("Opt out: reply STOP", True),
        ("Txt STOP 2 end", True),
        ("Reply UNSUBSCRIBE to opt out", True),
        ("Reply OPT OUT to stop messages", True),
        ("Thanks!", False),
        ("Do not reply STOP", False),
        ("Don't text STOP to us", False),
        ("Text us anytime, or stop by", False),
        ("Unsubscribe at https://s.example/u", False),
    ],
)
def test_what_counts_as_an_opt_out_instruction(line, instructs):
    from tenants.optout import has_opt_out_instruction

    assert has_opt_out_instruction(line) is instructs


def test_empty_body_still_gets_sender_and_opt_out():
    assert fin("") == "Acme Bakery:\nReply STOP to opt out"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "Hi Pat",
        "Hi Pat\n\n",
        "  Hi Pat",
        "Hi Pat. reply stop to opt out.",
        "acme bakery",
        "Order at https://acmebakery.example",
        "Text us, stop by",
        "Reply STOP to opt out",
        "Reply STOP to opt out\nAcme Bakery",
    ],
)
@pytest.mark.parametrize(
    ("business_name", "opt_out_line"),
    [
        (BUSINESS, OPT_OUT),
        ("Acme Pty Ltd.", "Reply STOP to opt out."),
        ("www.acme.example", "Opt out: reply STOP"),
        ("  Spaced   Name ", "  Txt STOP 2 end  "),
        ("Ace", "Reply UNSUBSCRIBE to stop"),
    ],
)
def test_finalise_is_idempotent_and_adds_each_part_at_most_once(text, business_name, opt_out_line):
    once = finalise(text, business_name=business_name, opt_out_line=opt_out_line)
    twice = finalise(once, business_name=business_name, opt_out_line=opt_out_line)
    assert twice == once
    flat = " ".join(once.split()).casefold()
    assert " ".join(business_name.split()).casefold() in flat  # the sender is always identified
    line = " ".join(opt_out_line.split()).casefold().rstrip(".")
    assert flat.count(line) <= max(1, " ".join(text.split()).casefold().count(line))  # never doubled


def test_render_message_renders_then_finalises():
    compiled = compile_body("Hi {{ first_name|there }}, 20% off: {{ link }}")
    values = {"first_name": "Pat", "link": "https://s.example/a"}
    text = render_message(compiled, values, business_name=BUSINESS, opt_out_line=OPT_OUT)
    assert text == "Acme Bakery: Hi Pat, 20% off: https://s.example/a\nReply STOP to opt out"
    assert render_message(compiled, {}, business_name=BUSINESS, opt_out_line=OPT_OUT).startswith(
        "Acme Bakery: Hi there, 20% off:\n"
    )
