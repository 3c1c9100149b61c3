"""/api/v1/templates/: who may do what, other tenants' templates are 404, and what a client sees."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import services
from campaigns.models import CampaignStatus, Template
from campaigns.tests.factories import CampaignFactory, TemplateFactory
from tenants.models import AuditEvent, IdempotencyRecord
from tenants.testing import api_client, assert_api_hidden, assert_api_roles

pytestmark = pytest.mark.django_db

LIST = "/api/v1/templates/"
PREVIEW = "/api/v1/templates/preview/"
WRITERS = ["staff", "admin"]


def detail(template) -> str:
    return f"{LIST}{template.pk}/"


BREAD = "Hi {{ first_name|there }}, 20% off all bread today"


@pytest.fixture
def template(tenant):
    return TemplateFactory(tenant=tenant, name="Bread", bodies=[BREAD])


def new_template(n=[0]):  # noqa: B006 - a counter for unique names across calls
    n[0] += 1
    return {"name": f"Weekend {n[0]}", "variants": ["Hi {{ first_name|there }}, open till 9 tonight"]}


# --- roles and tenants --------------------------------------------------------------------------


def test_every_role_reads_and_only_drafters_write(tenant, api_keys, template):
    assert_api_roles(LIST, keys=api_keys, allowed=["viewer", *WRITERS])
    assert_api_roles(detail(template), keys=api_keys, allowed=["viewer", *WRITERS])
    assert_api_roles(f"{detail(template)}preview/", keys=api_keys, allowed=["viewer", *WRITERS])
    assert_api_roles(PREVIEW, keys=api_keys, allowed=["viewer", *WRITERS], method="post", data={"variants": ["Hi"]})
    assert_api_roles(LIST, keys=api_keys, allowed=WRITERS, method="post", data=new_template)
    assert_api_roles(detail(template), keys=api_keys, allowed=WRITERS, method="put", data=new_template)
    assert_api_roles(detail(template), keys=api_keys, allowed=WRITERS, method="patch", data={"name": "Loaves"})
    assert_api_roles(lambda: detail(TemplateFactory(tenant=tenant)), keys=api_keys, allowed=WRITERS, method="delete")
    assert Template.objects.filter(tenant=tenant).count() == 1 + 2 + 1  # bread, two made, the viewer's undeleted


def test_another_tenants_template_is_404_and_unchanged(template, other_api_key):
    for method, url, data in (
        ("get", detail(template), None),
        ("get", f"{detail(template)}preview/", None),
        ("put", detail(template), {"name": "Hijacked", "variants": ["x"]}),
        ("patch", detail(template), {"name": "Hijacked"}),
        ("delete", detail(template), None),
    ):
        assert_api_hidden(url, key=other_api_key, method=method, data=data)
    template.refresh_from_db()
    assert template.name == "Bread"
    assert api_client(other_api_key).get(LIST).json()["results"] == []


def test_an_id_that_is_not_a_number_is_a_404(api_keys):
    for pk in ("abc", "99999999999999999999999"):
        response = api_client(api_keys["viewer"]).get(f"{LIST}{pk}/")
        assert response.status_code == 404 and response.json()["code"] == "not_found"


# --- reading ------------------------------------------------------------------------------------


def test_a_template_reads_with_its_variants_in_order(tenant, api_keys):
    template = TemplateFactory(tenant=tenant, name="Two", bodies=["First {{ first_name }}", "Second"])
    CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    body = api_client(api_keys["viewer"]).get(detail(template)).json()
    assert body["id"] == template.pk and body["name"] == "Two"
    assert body["variants"] == ["First {{ first_name }}", "Second"]
    assert (body["locked"], body["campaign_count"]) == (True, 1)
    assert body["created_at"] and body["updated_at"]


def test_the_list_filters_by_name_and_lock(tenant, api_keys):
    bread = TemplateFactory(tenant=tenant, name="Bread Friday")
    cakes = TemplateFactory(tenant=tenant, name="Cakes")
    CampaignFactory(tenant=tenant, template=cakes, status=CampaignStatus.COMPLETED)
    TemplateFactory(tenant=tenant, name="Drafted")  # a draft campaign does not lock it
    client = api_client(api_keys["viewer"])

    def names(**params):
        response = client.get(LIST, params)
        assert response.status_code == 200
        return [row["name"] for row in response.json()["results"]]

    assert names(name="bread") == [bread.name]
    assert names(locked="true") == [cakes.name]
    assert set(names(locked="false")) == {"Bread Friday", "Drafted"}
    for params, field in (({"locked": "maybe"}, "locked"), ({"name": "x" * 121}, "name")):
        response = client.get(LIST, params)
        assert response.status_code == 400 and field in response.json()["fields"]


def test_the_list_pages_with_a_cursor_in_a_fixed_number_of_queries(tenant, api_keys):
    client = api_client(api_keys["viewer"])
    TemplateFactory(tenant=tenant, bodies=["One", "Two"])
    client.get(LIST)  # the key's first use records it (once a minute)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for _ in range(6):
        CampaignFactory(tenant=tenant, template=TemplateFactory(tenant=tenant, bodies=["A", "B", "C"]))
    with CaptureQueriesContext(connection) as many:
        first = client.get(LIST, {"page_size": 4}).json()
    assert len(many) == len(few) <= 3, "a query per template"  # the key, the templates, their variants
    assert len(first["results"]) == 4 and first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 3 and second["next"] is None
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True)


# --- writing ------------------------------------------------------------------------------------


def test_create_saves_through_the_service_and_answers_the_template(tenant, api_keys):
    data = {"name": "Weekend", "variants": ["Hi {{ first_name|there }}", "Hello {{ first_name|you }}"]}
    response = api_client(api_keys["staff"]).post(LIST, data, format="json")
    assert response.status_code == 201
    template = Template.objects.get(tenant=tenant, name="Weekend")
    assert response.json() == {
        "id": template.pk,
        "name": "Weekend",
        "variants": ["Hi {{ first_name|there }}", "Hello {{ first_name|you }}"],
        "locked": False,
        "campaign_count": 0,
        "created_at": response.json()["created_at"],
        "updated_at": response.json()["updated_at"],
    }
    assert AuditEvent.objects.filter(tenant=tenant, action="template.saved", target="Weekend").exists()


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": "X", "variants": ["Hi {{ postcode }}"]}, "variants", "Variant 1: Unknown placeholder {{ postcode }}"),
        ({"name": "X", "variants": ["Fine", "{% if x %}"]}, "variants", "Variant 2: Tag {% if x %}"),
        ({"name": "X", "variants": []}, "variants", ""),
        ({"name": "X", "variants": ["a"] * 6}, "variants", "no more than 5"),
        ({"name": "X", "variants": ["a" * 1601]}, "variants", "1600"),
        ({"name": "", "variants": ["Hi"]}, "name", ""),
        ({"name": "Bread", "variants": ["Hi"]}, "name", "A template called 'Bread' exists already."),
        ({"name": "X", "variants": ["Hi\x00"]}, "variants", "Null characters are not allowed."),
    ],
)
def test_a_refused_template_is_a_400_naming_the_field(tenant, api_keys, template, data, field, words):
    response = api_client(api_keys["staff"]).post(LIST, data, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "validation_error" and field in body["fields"]
    assert words in " ".join(body["fields"][field])
    assert Template.objects.filter(tenant=tenant).count() == 1


def test_an_update_replaces_the_variants_and_a_patch_keeps_what_it_omits(tenant, api_keys, template):
    client = api_client(api_keys["staff"])
    response = client.put(detail(template), {"name": "Bread", "variants": ["New one", "And two"]}, format="json")
    assert response.status_code == 200 and response.json()["variants"] == ["New one", "And two"]
    response = client.patch(detail(template), {"name": "Loaves"}, format="json")
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["variants"]) == ("Loaves", ["New one", "And two"])
    response = client.put(detail(template), {"name": "Loaves"}, format="json")
    assert response.status_code == 400 and "variants" in response.json()["fields"]


def test_a_launched_campaigns_template_cannot_change_409(tenant, api_keys, template):
    CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    response = api_client(api_keys["staff"]).put(detail(template), {"name": "Bread", "variants": ["x"]}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "code": "conflict",
        "message": "This template belongs to a launched campaign; copy it to change it.",
        "fields": {},
    }
    assert [variant.body for variant in template.variants.all()] == [BREAD]


def test_create_honours_the_idempotency_key(tenant, api_keys):
    client = api_client(api_keys["staff"])
    data = {"name": "Once", "variants": ["Hi"]}
    first = client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(LIST, data, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Template.objects.filter(tenant=tenant).count() == 1
    other = client.post(LIST, {"name": "Twice", "variants": ["Hi"]}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert IdempotencyRecord.objects.count() == 1


# --- deleting -----------------------------------------------------------------------------------


def test_delete_removes_an_unused_template_and_records_it(tenant, api_keys, template):
    response = api_client(api_keys["staff"]).delete(detail(template))
    assert response.status_code == 204
    assert not Template.objects.filter(pk=template.pk).exists()
    event = AuditEvent.objects.get(tenant=tenant, action=services.CampaignAction.TEMPLATE_DELETED)
    assert (event.target, event.data["variants"]) == ("Bread", 1)
    assert event.data["api_key"].startswith("staff test key (smk_")


def test_a_template_a_campaign_uses_cannot_be_deleted_409(tenant, api_keys, template):
    CampaignFactory(tenant=tenant, template=template, name="Friday loaves", status=CampaignStatus.DRAFT)
    response = api_client(api_keys["admin"]).delete(detail(template))
    assert response.status_code == 409
    assert response.json()["message"] == (
        "Campaigns use this template ('Friday loaves'): delete them or give them another template first."
    )
    assert Template.objects.filter(pk=template.pk).exists()
    assert not AuditEvent.objects.filter(action=services.CampaignAction.TEMPLATE_DELETED).exists()


# --- previews -----------------------------------------------------------------------------------


def test_a_saved_template_previews_as_its_page_does(tenant, api_keys):
    template = TemplateFactory(tenant=tenant, bodies=["Hi {{ first_name|there }}, we’re open", "Plain one"])
    response = api_client(api_keys["viewer"]).get(f"{detail(template)}preview/")
    assert response.status_code == 200
    first, second = response.json()["variants"]
    assert first["number"] == 1 and first["body"] == "Hi {{ first_name|there }}, we’re open"
    # The business name added in front, sample values, the opt-out line on its own last line.
    assert first["text"] == f"Acme Bakery: Hi Sam, we’re open\n{tenant.opt_out_line}"
    assert (first["encoding"], first["segments"], first["units"]) == ("UCS-2", 1, len(first["text"]))
    assert first["worst"]["encoding"] == "UCS-2" and first["worst"]["units"] > first["units"]
    assert first["non_gsm"] == [{"character": "’", "name": "Right Single Quotation Mark"}]
    assert first["gsm_replaceable"] is True and first["errors"] == []
    assert (second["encoding"], second["segments"], second["non_gsm"]) == ("GSM-7", 1, [])


def test_unsaved_bodies_preview_and_a_bad_one_says_why(tenant, api_keys):
    long = "Acme Bakery: " + "x" * 200
    response = api_client(api_keys["staff"]).post(
        PREVIEW, {"variants": [long, "Hi {{ nickname }}", "Shop {{ link }}"]}, format="json"
    )
    assert response.status_code == 200
    big, bad, link = response.json()["variants"]
    assert (big["encoding"], big["segments"]) == ("GSM-7", 2)
    assert big["text"].startswith("Acme Bakery: xxx")  # named already: not named twice
    assert bad["text"] is None and bad["segments"] is None
    assert bad["errors"] == [
        "Unknown placeholder {{ nickname }} at character 4; known: first_name, last_name, business_name, link."
    ]
    assert "example.com" not in link["text"]  # the sample link goes out as the business's short link
    assert not Template.objects.exists(), "a preview saves nothing"


def test_a_preview_request_is_checked(api_keys):
    client = api_client(api_keys["viewer"])
    for data in ({}, {"variants": []}, {"variants": "Hi"}, {"variants": ["a" * 1601]}):
        response = client.post(PREVIEW, data, format="json")
        assert response.status_code == 400 and "variants" in response.json()["fields"], data
    assert client.get(PREVIEW).status_code == 405


# --- the service --------------------------------------------------------------------------------


def test_template_delete_refuses_while_any_campaign_uses_it(tenant, template, members):
    for n in range(7):
        CampaignFactory(tenant=tenant, template=template, name=f"C{n}")
    with pytest.raises(services.ValidationError) as refused:
        services.template_delete(template=template, actor=members["staff"])
    assert refused.value.code == services.TEMPLATE_IN_USE
    assert "'C0', 'C1', 'C2', 'C3', 'C4' and others" in refused.value.messages[0]
