"""A client of the sticky-free test: python-socketio over polling only, through a balancer
with no affinity in front of two tickwire nodes. Connects (no reconnection: a transport
error fails the run), round-trips acks, prints ``ready``, waits for a ``news`` broadcast
from each node (``a`` and ``b``), round-trips acks again, prints ``result <json>``.

Environment: TICKWIRE_URL (the balancer), LIMIT_S (how long, default 30).
"""

import json
import os
import sys
import threading

import socketio

URL = os.environ["TICKWIRE_URL"]
LIMIT = float(os.environ.get("LIMIT_S", "30"))

errors = []
news = set()
got_both = threading.Event()
sio = socketio.Client(reconnection=False)


@sio.on("news")
def on_news(source, *_offset):
    # On the streams bus a broadcast carries its stream offset as a last argument.
    news.add(source)
    if len(news) >= 2:
        got_both.set()


@sio.event
def disconnect(reason=None):
    errors.append(f"disconnect {reason}")


@sio.event
def connect_error(data):
    errors.append(f"connect_error {data}")


def round_trips(n, acks):
    for i in range(n):
        payload = {"i": i, "text": f"echo {i}"}
        answer = sio.call("echo", payload, timeout=5)
        if answer != payload:
            errors.append(f"ack {i}: got {answer!r}")
        acks += 1
    return acks


def main():
    acks = 0
    reason = "complete"
    try:
        sio.connect(URL, transports=["polling"], wait_timeout=5)
        acks = round_trips(20, acks)
        print("ready", flush=True)
        if not got_both.wait(LIMIT):
            reason = "timeout"
        acks = round_trips(5, acks)
    except Exception as e:  # noqa: BLE001 - reported, the test fails on it
        errors.append(f"{type(e).__name__}: {e}")
        reason = "error"
    transport = sio.transport() if sio.connected else None
    result = {"reason": reason, "errors": list(errors), "news": sorted(news), "acks": acks,
              "transport": transport}
    print("result " + json.dumps(result), flush=True)
    sio.disconnect()
    sys.exit(0)


if __name__ == "__main__":
    main()
