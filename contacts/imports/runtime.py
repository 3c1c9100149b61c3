"""How a long import run uses the interpreter: ``bulk_runtime`` tunes the garbage collector and the GIL,
``read_ahead`` parses batches in a background thread while the database works."""

import gc
import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def bulk_runtime():
    """Tune the interpreter for one long import run, and put it back afterwards.

    - The cyclic garbage collector: an import allocates millions of short-lived objects, which
      would trigger a full collection (tens of milliseconds over Django's own objects) every
      batch; frozen start-up objects and a higher first threshold cut that to near nothing.
    - The GIL switch interval: the parser thread (``read_ahead``) would otherwise keep the GIL
      for up to 5 ms each time the database thread wakes up from a query, many times a batch.
    """
    gc.collect()
    gc.freeze()
    threshold = gc.get_threshold()
    switch = sys.getswitchinterval()
    gc.set_threshold(100_000, 50, 100)
    sys.setswitchinterval(0.0005)
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        gc.set_threshold(*threshold)
        gc.unfreeze()


def read_ahead(batches: Iterator, *, depth: int = 2) -> Iterator:
    """Run a batch iterator in a background thread, ``depth`` batches ahead of the consumer.

    Parsing is pure Python and needs no database; the consumer mostly waits on PostgreSQL,
    which releases the GIL. Overlapping the two uses both cores. An exception in the producer
    is raised in the consumer; a consumer that stops early stops the producer.
    """
    done = object()
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in batches:
                while not stop.is_set():
                    try:
                        handoff.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # re-raised in the consumer
            failure.append(exc)
        finally:
            while not stop.is_set():
                try:
                    handoff.put(done, timeout=0.2)
                    break
                except queue.Full:
                    continue

    producer = threading.Thread(target=produce, name="import-parser", daemon=True)
    producer.start()
    try:
        while (item := handoff.get()) is not done:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        producer.join()
