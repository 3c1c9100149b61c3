"""A cuttable TCP proxy in front of PostgreSQL, as a process of its own (see common.Proxy).

    python -m bench.chaos.proxy HOST PORT

Prints the port it listens on, then obeys one word per line on stdin: ``cut`` (drop every
connection, refuse new ones), ``restore``, ``stop``; each is acknowledged with a line on stdout.
It runs smscrm.testing.services.TcpProxy, whose threads would otherwise live in the suite's own
process (which forks children and must stay single-threaded for that).
"""

import sys

from smscrm.testing.services import TcpProxy


def main(argv: list[str]) -> int:
    proxy = TcpProxy(argv[0], int(argv[1])).start()
    print(proxy.port, flush=True)
    try:
        for line in sys.stdin:
            word = line.strip()
            if word == "cut":
                proxy.cut()
            elif word == "restore":
                proxy.restore()
            elif word == "stop":
                break
            print(word, flush=True)
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
