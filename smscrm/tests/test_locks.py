"""smscrm.locks: the one cache lock the periodic tasks share (issue 17, item 5)."""

import threading

from django.core.cache import cache

from smscrm.locks import single_run


def test_a_second_run_while_the_first_is_under_way_is_skipped():
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    @single_run("tests.single_run")
    def job(who: str) -> str:
        ran.append(who)
        started.set()
        assert release.wait(timeout=10)
        return who

    results: dict[str, str | None] = {}
    first = threading.Thread(target=lambda: results.update(first=job("first")))
    first.start()
    try:
        assert started.wait(timeout=10)
        results["second"] = job("second")  # overlaps the first: skipped, returns None
    finally:
        release.set()
        first.join(timeout=10)
    assert results == {"first": "first", "second": None}
    assert ran == ["first"]
    # The first run gave the lock back: the next run goes ahead.
    started.clear()
    assert job("third") == "third"
    assert ran == ["first", "third"]
    assert cache.get("lock:tests.single_run") is None


def test_a_lock_per_object_when_the_name_names_an_argument():
    calls: list[tuple[int, int | None, int | None]] = []

    @single_run("tests.single_run_per_object:{0}")
    def refresh(object_id: int, nested: bool = True) -> int:
        if nested:
            # Inside campaign 1's run: campaign 1 again is skipped, campaign 2 goes ahead.
            calls.append((object_id, refresh(object_id, nested=False), refresh(object_id + 1, nested=False)))
        return object_id

    assert refresh(1) == 1
    assert calls == [(1, None, 2)]
