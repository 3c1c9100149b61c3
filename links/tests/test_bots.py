"""links.bots against the labelled user-agent corpus and the request signals."""

import csv
from pathlib import Path

import pytest

from links.bots import bursts, classify

# A copy of shared/data/user-agents (see its README), so it travels with the repository.
CORPUS = Path(__file__).resolve().parent / "data" / "user-agents"


def rows(name: str) -> list[dict]:
    with open(CORPUS / f"{name}.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def test_the_corpus_is_there():
    assert len(rows("bots")) > 100 and len(rows("humans")) > 50


@pytest.mark.parametrize("row", rows("bots"), ids=lambda r: r["category"])
def test_every_bot_of_the_corpus_is_not_human_and_previews_are_named(row):
    verdict = classify(row["user_agent"])
    assert not verdict.is_human, row
    expected = "link_preview" if row["category"].startswith("link-preview") else "crawler"
    assert verdict.reason == expected, row


@pytest.mark.parametrize("row", rows("humans"), ids=lambda r: r["category"])
def test_every_human_of_the_corpus_is_human(row):
    assert classify(row["user_agent"]).is_human, row


def test_the_ambiguous_rows_as_decided():
    defender, blank, meta_in_app = rows("ambiguous")
    assert classify(defender["user_agent"]).is_human  # a real Chrome by its agent: timing catches it
    assert classify(defender["user_agent"], seconds_since_delivery=2.0).reason == "scanner_timing"
    assert classify(blank["user_agent"]).reason == "empty_user_agent"
    assert classify(meta_in_app["user_agent"]).is_human  # Facebook's in-app browser: a person


IPHONE = rows("humans")[0]["user_agent"]


def test_head_and_options_are_never_clicks():
    assert classify(IPHONE, method="HEAD").reason == "head_request"
    assert classify(IPHONE, method="options").reason == "head_request"
    assert classify(IPHONE, method="GET").is_human


def test_a_fetch_within_seconds_of_delivery_is_a_scanner():
    assert classify(IPHONE, seconds_since_delivery=0.5).reason == "scanner_timing"
    assert classify(IPHONE, seconds_since_delivery=4.9).reason == "scanner_timing"
    assert classify(IPHONE, seconds_since_delivery=30).is_human
    assert classify(IPHONE, seconds_since_delivery=None).is_human


def test_bursts_are_different_agents_on_one_link_within_a_second():
    android = rows("humans")[-1]["user_agent"]
    fetches = [
        ("a", 1, 100.0, IPHONE),
        ("b", 1, 100.4, android),  # another agent within a second: a/b are a burst
        ("c", 1, 105.0, IPHONE),  # later: fine
        ("d", 2, 100.1, IPHONE),  # same second, other link: fine
        ("e", 3, 200.0, IPHONE),
        ("f", 3, 200.2, IPHONE),  # one agent twice (a double tap): not a burst
    ]
    assert bursts(fetches) == {"a", "b"}
