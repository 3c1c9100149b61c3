"""Is a short-link fetch a person, or a bot, a link preview or a scanner?

SMS clicks are polluted: messaging apps fetch every link to draw a preview (iMessage does it from
the recipient's own phone), carriers and mail scanners open links seconds after delivery. A
fetch counts as a click only when nothing here says otherwise:

1. HEAD and OPTIONS are never clicks (``head_request``).
2. An empty user agent is no browser (``empty_user_agent``).
3. A known messaging-app preview fetcher (``link_preview``): the explicit list below, checked
   before crawlerdetect so that previews are named as such.
4. Anything crawlerdetect (a maintained crawler list) knows: search engines, SEO and monitoring
   bots, HTTP libraries, headless browsers (``crawler``).
5. A fetch within SCANNER_SECONDS of delivery is a scanner, whatever it claims to be
   (``scanner_timing``): nobody reads a text and taps its link that fast.
6. Several fetches of one link within a second from different agents (``burst``): decided
   over a batch of clicks by ``bursts``, not here.

In-app browsers (Instagram, Facebook, TikTok, LinkedIn…) are people: a person tapped the link
inside that app. The corpus in shared/data/user-agents/ (bots.tsv, humans.tsv) is classified
exactly by this module (links/tests/test_bots.py). Its ambiguous rows, decided:

- A plain desktop Chrome that is really Microsoft Defender Safe Links: by user agent it IS a
  browser, so it is human here; the timing rule (5) is what catches scanners like it.
- A blank user agent (other mail scanners): not human (rule 2).
- "… wv) … Chrome/… Mobile Safari/537.36 MetaIAB Facebook": crawler-user-agents lists it as a
  Facebook preview fetcher, but it is Facebook's Android in-app browser (a WebView, "wv", with
  MetaIAB = Meta In-App Browser). People tap links there, so it is human.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from crawlerdetect import CrawlerDetect

SCANNER_SECONDS = 5.0
BURST_SECONDS = 1.0

REASONS = ("crawler", "link_preview", "scanner_timing", "head_request", "empty_user_agent", "burst")

# Messaging apps and sites that fetch a link to draw its preview.
PREVIEW_FETCHERS = re.compile(
    r"facebookexternalhit|facebot|twitterbot|whatsapp|telegrambot|slackbot|slack-imgproxy|skypeuripreview"
    r"|google-pagerenderer|google web preview|microsoftpreview|bingpreview|meta-externalfetcher|linkedinbot"
    r"|discordbot|^viber|snapurlpreview|snap url preview|pinterestbot|redditbot|vkshare|kakaotalk-scrap"
    r"|yahoo link preview|iframely|embedly|bufferlinkpreviewbot|blueskypreviewbot|chatwork linkpreview"
    r"|zoombot|synapse \(bot|mastodon/|steamchaturllookup",
    re.IGNORECASE,
)
# HTTP libraries crawlerdetect's list misses (it knows most: curl, python-requests, okhttp…).
HTTP_LIBRARIES = re.compile(r"java-http-client|^java/|go-http-client|node-fetch|undici|httpx/|aiohttp/", re.IGNORECASE)
# Meta's in-app browser: crawlerdetect's list names it a fetcher; it is a person's browser.
IN_APP_BROWSER = re.compile(r"; wv\).*MetaIAB|FBAN/|FBAV/|Instagram \d", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    is_human: bool
    reason: str | None = None


HUMAN = Verdict(True)
_detector = CrawlerDetect()


@lru_cache(maxsize=4096)
def _by_agent(user_agent: str) -> Verdict:
    if not user_agent.strip():
        return Verdict(False, "empty_user_agent")
    if PREVIEW_FETCHERS.search(user_agent):
        return Verdict(False, "link_preview")
    if IN_APP_BROWSER.search(user_agent):
        return HUMAN
    if _detector.isCrawler(user_agent) or HTTP_LIBRARIES.search(user_agent):
        return Verdict(False, "crawler")
    return HUMAN


def classify(user_agent: str, *, method: str = "GET", seconds_since_delivery: float | None = None) -> Verdict:
    """Whether one fetch is a person's click, and why not when it is not."""
    if method.upper() in ("HEAD", "OPTIONS"):
        return Verdict(False, "head_request")
    verdict = _by_agent((user_agent or "")[:1000])
    if not verdict.is_human:
        return verdict
    if seconds_since_delivery is not None and 0 <= seconds_since_delivery < SCANNER_SECONDS:
        return Verdict(False, "scanner_timing")
    return HUMAN


def bursts(fetches: list[tuple[object, int, float, str]]) -> set[object]:
    """Keys of fetches that are part of a burst.

    ``fetches``: (key, link id, epoch seconds, user agent) of the fetches still counted as
    human. A burst is two or more fetches of one link within BURST_SECONDS from different user
    agents: one person does not switch browsers within a second.
    """
    by_link: dict[int, list[tuple[float, str, object]]] = {}
    for key, link_id, at, agent in fetches:
        by_link.setdefault(link_id, []).append((at, agent, key))
    flagged: set[object] = set()
    for rows in by_link.values():
        rows.sort(key=lambda row: row[0])
        start = 0
        for end in range(len(rows)):
            while rows[end][0] - rows[start][0] > BURST_SECONDS:
                start += 1
            window = rows[start : end + 1]
            if len({agent for _, agent, _ in window}) > 1:
                flagged.update(key for _, _, key in window)
    return flagged
