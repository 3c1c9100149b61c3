"""The aiohttp Twilio fake (smscrm.testing.twilio_api): wire format, concurrency cap, faults, stats.

No database: the fake never touches Django.
"""

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import requests

from smscrm.testing.twilio_api import LISTENING, TwilioApiFake, remote_configure, remote_reset, remote_stats

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "feedfacecafebeef0123456789abcdef"
ROOT = Path(__file__).resolve().parents[2]


def messages_url(fake, sid=SID):
    return f"{fake.url}/2010-04-01/Accounts/{sid}/Messages.json"


def form(to="+61400000001", body="Hello", **extra):
    return {"To": to, "From": "+61400999999", "Body": body, **extra}


def post(fake, data=None, auth=(SID, TOKEN), timeout=5, sid=SID):
    return requests.post(messages_url(fake, sid), data=data or form(), auth=auth, timeout=timeout)


async def burst(url, count, *, auth=(SID, TOKEN), timeout=10):
    """``count`` simultaneous creates; returns (status, headers, json) for each."""

    async def one(session, i):
        async with session.post(url, data=form(to=f"+614000{i:05d}")) as response:
            return response.status, dict(response.headers), await response.json()

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {"Authorization": aiohttp.encode_basic_auth(*auth)}
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:
        return await asyncio.gather(*(one(session, i) for i in range(count)))


@pytest.fixture
def fake():
    with TwilioApiFake({SID: TOKEN}, latency=0.01, concurrency=5, seed=1) as server:
        yield server


def test_create_answers_201_and_logs_the_message(fake):
    response = post(fake)
    assert response.status_code == 201
    resource = response.json()
    assert resource["sid"].startswith("SM") and len(resource["sid"]) == 34
    assert resource["status"] == "queued"
    assert resource["to"] == "+61400000001" and resource["from"] == "+61400999999" and resource["body"] == "Hello"
    assert resource["price"] is None and resource["price_unit"] == "AUD" and resource["num_segments"] == "1"
    assert response.headers["Twilio-Concurrent-Requests"] == "1"
    assert response.headers["Twilio-Request-Id"].startswith("RQ")

    [entry] = fake.log()
    assert entry["sid"] == resource["sid"] and entry["account_sid"] == SID and entry["to"] == "+61400000001"
    assert abs(entry["created_at"] - time.time()) < 5
    stats = fake.stats()
    assert stats["requests"] == stats["created"] == stats["answered_201"] == 1
    assert stats["created_by_account"] == {SID: 1}
    assert stats["first_created_at"] == stats["last_created_at"] == entry["created_at"]
    assert stats["in_flight"] == {} and stats["max_in_flight"] == {SID: 1}


def test_wrong_token_is_401(fake):
    response = post(fake, auth=(SID, "wrong"))
    assert response.status_code == 401
    assert response.json()["code"] == 20003
    assert response.json()["more_info"] == "https://www.twilio.com/docs/errors/20003"
    assert post(fake, sid="AC" + "0" * 32).status_code == 401  # the path's account is not the caller's
    assert requests.post(messages_url(fake), data=form(), timeout=5).status_code == 401  # no auth at all
    stats = fake.stats()
    assert stats["requests"] == 3 and stats["unauthorized"] == 3 and stats["created"] == 0


def test_any_account_when_accounts_is_none():
    with TwilioApiFake(latency=0) as fake:
        assert post(fake, sid="ACany", auth=("ACany", "whatever")).status_code == 201
        assert post(fake, sid="ACany", auth=("ACany", "")).status_code == 401
        assert post(fake, sid="ACany", auth=("ACother", "x")).status_code == 401


def test_invalid_form_is_400_with_twilio_codes(fake):
    assert post(fake, {"From": "+61400999999", "Body": "x"}).json()["code"] == 21604
    assert post(fake, {"To": "+61400000001", "Body": "x"}).json()["code"] == 21603
    assert post(fake, {"To": "+61400000001", "From": "+61400999999"}).json()["code"] == 21602
    bad = post(fake, form(to="0400000001"))
    assert bad.status_code == 400 and bad.json()["code"] == 21211
    assert post(fake, form(body="x" * 1601)).json()["code"] == 21617
    assert post(fake, form(MessagingServiceSid="MG1", From="")).status_code == 201
    stats = fake.stats()
    assert stats["invalid_4xx"] == 5 and stats["created"] == 1


def test_concurrency_cap_answers_429():
    with TwilioApiFake({SID: TOKEN}, latency=0.2, concurrency=5, seed=1) as fake:
        results = asyncio.run(burst(messages_url(fake), 20))
        stats = fake.stats()
    created = [r for r in results if r[0] == 201]
    rejected = [r for r in results if r[0] == 429]
    assert len(created) == 5 and len(rejected) == 15
    for _status, headers, payload in rejected:
        assert payload == {
            "code": 20429,
            "message": "Too Many Requests",
            "more_info": "https://www.twilio.com/docs/errors/20429",
            "status": 429,
        }
        assert headers["Twilio-Concurrent-Requests"] == "5"
        assert headers["Twilio-Request-Id"].startswith("RQ")
    assert sorted(int(h["Twilio-Concurrent-Requests"]) for _s, h, _p in created) == [1, 2, 3, 4, 5]
    assert stats["max_in_flight"] == {SID: 5}
    assert stats["rejected_429"] == 15 and stats["created"] == stats["answered_201"] == 5
    assert stats["requests"] == 20 and stats["in_flight"] == {}


def test_cap_is_per_account():
    other, other_token = "AC" + "1" * 32, "t2"
    with TwilioApiFake({SID: TOKEN, other: other_token}, latency=0.2, concurrency=3) as fake:

        async def both():
            return await asyncio.gather(
                burst(messages_url(fake), 3), burst(messages_url(fake, other), 3, auth=(other, other_token))
            )

        first, second = asyncio.run(both())
        stats = fake.stats()
    assert [r[0] for r in first + second] == [201] * 6
    assert stats["max_in_flight"] == {SID: 3, other: 3} and stats["created_by_account"] == {SID: 3, other: 3}


def test_error_share_answers_5xx_and_creates_nothing():
    with TwilioApiFake({SID: TOKEN}, latency=0.01, error_share=1.0) as fake:
        responses = [post(fake) for _ in range(4)]
        stats = fake.stats()
    assert [r.status_code for r in responses] == [500, 503, 500, 503]
    for response in responses:
        assert response.json()["code"] == 20500
        assert response.headers["Twilio-Concurrent-Requests"] == "1"
    assert stats["errors_5xx"] == 4 and stats["created"] == 0 and fake.log() == []


def test_timeout_share_creates_the_message_but_never_answers():
    with TwilioApiFake({SID: TOKEN}, latency=0.01, timeout_share=1.0, hang_seconds=0.5) as fake:
        with pytest.raises(requests.exceptions.ReadTimeout):
            post(fake, timeout=0.2)
        stats = fake.stats()
        assert stats["created"] == 1 and stats["timeouts"] == 1 and stats["answered_201"] == 0
        assert stats["in_flight"] == {SID: 1}  # still hanging
        assert len(fake.log()) == 1

        # Waited out, the connection is closed without a response.
        with pytest.raises(requests.exceptions.ConnectionError):
            post(fake, timeout=5)
        assert fake.stats()["in_flight"] == {}


def test_stop_cuts_a_hang_short():
    fake = TwilioApiFake({SID: TOKEN}, latency=0, timeout_share=1.0, hang_seconds=30).start()

    async def hang():
        headers = {"Authorization": aiohttp.encode_basic_auth(SID, TOKEN)}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.post(messages_url(fake), data=form()) as response,
        ):
            return response.status

    async def scenario():
        task = asyncio.ensure_future(hang())
        while fake.stats()["timeouts"] == 0:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, fake.stop)
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await task
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 5


def test_duplicates_are_counted(fake):
    post(fake, form(to="+61400000001", body="A"))
    post(fake, form(to="+61400000001", body="A"))  # a message received twice
    post(fake, form(to="+61400000001", body="B"))  # same number, another message
    post(fake, form(to="+61400000002", body="A"))
    stats = fake.stats()
    assert stats["created"] == 4
    assert stats["duplicates"] == 1
    assert stats["duplicate_to"] == 2
    assert fake.created_to() == {"+61400000001": 3, "+61400000002": 1}


def test_get_a_created_message(fake):
    sid = post(fake).json()["sid"]
    url = f"{fake.url}/2010-04-01/Accounts/{SID}/Messages/{sid}.json"
    fake.configure(deliver_after=10)
    got = requests.get(url, auth=(SID, TOKEN), timeout=5)
    assert got.status_code == 200 and got.json()["sid"] == sid and got.json()["status"] == "sent"
    fake.configure(deliver_after=0)
    assert requests.get(url, auth=(SID, TOKEN), timeout=5).json()["status"] == "delivered"
    assert requests.get(url, auth=(SID, "wrong"), timeout=5).status_code == 401
    missing = requests.get(url.replace(sid, "SM" + "0" * 32), auth=(SID, TOKEN), timeout=5)
    assert missing.status_code == 404 and missing.json()["code"] == 20404


def test_reset_and_configure(fake):
    post(fake)
    fake.reset()
    stats = fake.stats()
    assert stats["requests"] == stats["created"] == 0 and fake.log() == []
    assert stats["first_created_at"] is None and stats["max_in_flight"] == {}

    config = fake.configure(latency=0, concurrency=7, error_share=1.0)
    assert config["concurrency"] == 7 and config["error_share"] == 1.0 and config["latency"] == 0
    # Every call fails, alternating Twilio's two server errors: two calls give one of each.
    assert sorted(post(fake).status_code for _ in range(2)) == [500, 503]
    with pytest.raises(ValueError):
        fake.configure(nonsense=1)
    with pytest.raises(ValueError):
        fake.configure(error_share=2)


def test_control_endpoints(fake):
    post(fake)
    assert remote_stats(fake.url)["created"] == 1
    config = remote_configure(fake.url, latency=0.02, timeout_share=0.5)
    assert config["latency"] == 0.02 and config["timeout_share"] == 0.5 and fake.stats()["config"] == config
    bad = requests.post(f"{fake.url}/_fake/config", json={"latency": -1}, timeout=5)
    assert bad.status_code == 400
    remote_reset(fake.url)
    assert remote_stats(fake.url)["created"] == 0


def test_runs_as_a_process():
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smscrm.testing.twilio_api",
            "--port",
            "0",
            "--latency",
            "0.01",
            "--concurrency",
            "10",
            "--seed",
            "1",
            "--account",
            f"{SID}:{TOKEN}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(LISTENING), line
        url = line[len(LISTENING) :].strip()
        assert url.startswith("http://127.0.0.1:")
        endpoint = f"{url}/2010-04-01/Accounts/{SID}/Messages.json"
        response = requests.post(endpoint, data=form(), auth=(SID, TOKEN), timeout=5)
        assert response.status_code == 201
        stats = remote_stats(url)
        assert stats["created"] == 1 and stats["config"]["concurrency"] == 10
    finally:
        process.terminate()
        assert process.wait(timeout=15) == 0
        assert process.stdout.read() == ""  # exactly one line
        process.stdout.close()
