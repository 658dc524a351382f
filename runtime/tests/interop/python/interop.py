"""Interop checks: python-socketio's ``socketio.Client`` against a running tickwire
conformance server (``runtime/examples/conformance.rs``).

Environment:
  TICKWIRE_URL          server base URL, e.g. http://127.0.0.1:3000 (required)
  TICKWIRE_TRANSPORTS   websocket | polling | upgrade (default: websocket)
                        upgrade = ['polling', 'websocket'] and the upgrade must happen
  TICKWIRE_INTEROP_TIMEOUT  hard limit in seconds for the whole run (default: 50)

Run with the interpreter of the venv made from requirements.txt:
  .venv/bin/python interop.py
Prints one line per check and a summary line; exits non-zero on failure.
"""

import faulthandler
import itertools
import logging
import os
import sys
import threading
import time
import traceback
from importlib import metadata

import socketio

URL = os.environ.get("TICKWIRE_URL", "").rstrip("/")
MODE = os.environ.get("TICKWIRE_TRANSPORTS", "websocket")
TRANSPORTS = {
    "websocket": ["websocket"],
    "polling": ["polling"],
    "upgrade": ["polling", "websocket"],
}.get(MODE)
STEP = 5.0  # seconds for any single wait
GLOBAL = float(os.environ.get("TICKWIRE_INTEROP_TIMEOUT", "50"))


def _global_timeout():
    sys.stderr.write(
        f"interop: global timeout of {GLOBAL:g} s exceeded (mode {MODE}, {URL}); threads:\n"
    )
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(1)


# ------------------------------------------------------------------------------------------
# helpers


class CheckFailed(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def short(v, limit=120):
    r = repr(v)
    return r if len(r) <= limit else f"{r[:limit]}... ({len(r)} chars)"


def first_diff(actual, expected, path="$"):
    """Where two JSON-like values first differ (None if equal); bool/int/float must match in
    type too, so True never passes for 1."""
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return f"{path}: {len(actual)} items, expected {len(expected)}: got {short(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            d = first_diff(a, e, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(expected, dict) and isinstance(actual, dict):
        if set(actual) != set(expected):
            return f"{path}: keys {sorted(actual)}, expected {sorted(expected)}"
        for k in expected:
            d = first_diff(actual[k], expected[k], f"{path}.{k}")
            if d:
                return d
        return None
    if type(actual) is not type(expected) or actual != expected:
        return f"{path}: got {short(actual)}, expected {short(expected)}"
    return None


def check_eq(actual, expected, what):
    d = first_diff(actual, expected)
    if d:
        raise CheckFailed(f"{what}: {d}")


def check_same(actual, expected, what):
    """Like check_eq, but binary values must also come back as bytes (not lists/strings)."""

    def comparable(v):
        if isinstance(v, (bytes, bytearray, memoryview)):
            return {"<binary>": bytes(v).hex()}
        if isinstance(v, (list, tuple)):
            return [comparable(x) for x in v]
        if isinstance(v, dict):
            return {k: comparable(x) for k, x in v.items()}
        return v

    check_eq(comparable(actual), comparable(expected), what)


_counter = itertools.count(1)


def token(label):
    """A value unique to this run, so stray events (e.g. from other clients) never match."""
    return f"{label}-{os.getpid()}-{next(_counter)}"


class Inbox:
    """Records every occurrence of some events (any namespace) so a check can wait for one in
    any order and also assert that something did NOT arrive."""

    def __init__(self, sio, events, namespace="/"):
        self.cond = threading.Condition()
        self.items = []
        for ev in events:
            sio.on(ev, self._recorder(ev), namespace=namespace)

    def _recorder(self, ev):
        def record(*args):
            with self.cond:
                self.items.append((ev, list(args)))
                self.cond.notify_all()

        return record

    def next(self, ev, pred, what, timeout=STEP):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, (e, args) in enumerate(self.items):
                    if e == ev and pred(args):
                        del self.items[i]
                        return args
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CheckFailed(f"timed out after {timeout:g} s waiting for {what}")
                self.cond.wait(left)

    def count(self, ev, pred=lambda args: True):
        with self.cond:
            return sum(1 for e, args in self.items if e == ev and pred(args))


def first_arg_is(v):
    return lambda args: len(args) > 0 and args[0] == v


class Check:
    """Per-check context: creates clients and disconnects them all at the end."""

    def __init__(self):
        self.clients = []

    def client(self):
        sio = socketio.Client(reconnection=False, request_timeout=STEP)
        self.clients.append(sio)
        return sio

    def connect(self, sio, namespaces=("/",), auth=None, what="connect"):
        try:
            sio.connect(
                URL,
                namespaces=list(namespaces),
                auth=auth,
                transports=TRANSPORTS,
                wait_timeout=STEP,
            )
        except socketio.exceptions.ConnectionError as exc:
            raise CheckFailed(f"{what}: connection failed: {exc}") from exc
        for ns in namespaces:
            check(sio.get_sid(ns), f"{what}: no sid for namespace {ns}")
        if MODE == "upgrade":
            # python-engineio connects with polling first and upgrades before connect() returns.
            check_eq(sio.transport(), "websocket", f"{what}: transport after the upgrade")
        else:
            check_eq(sio.transport(), TRANSPORTS[0], f"{what}: transport")

    def close(self):
        for sio in self.clients:
            try:
                if sio.connected:
                    sio.disconnect()
                else:
                    sio.shutdown()
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass


def emit_ack(sio, event, *args, namespace="/", timeout=STEP):
    """Emits with an ack callback; returns all ack arguments as a list."""
    done = threading.Event()
    reply = []

    def callback(*a):
        reply.extend(a)
        done.set()

    sio.emit(event, tuple(args), namespace=namespace, callback=callback)
    if not done.wait(timeout):
        raise CheckFailed(f"timed out after {timeout:g} s waiting for the ack of '{event}'")
    return reply


def emit(sio, event, *args, namespace="/"):
    sio.emit(event, tuple(args), namespace=namespace)


# ------------------------------------------------------------------------------------------
# checks

CHECKS = []


def check_case(fn):
    CHECKS.append(fn)
    return fn


@check_case
def connect_main_without_auth(c):
    sio = c.client()
    box = Inbox(sio, ["auth"])
    c.connect(sio, what="/")
    check_eq(box.next("auth", lambda a: True, "'auth' event on /"), [{}], "auth payload on /")


@check_case
def connect_main_with_auth(c):
    sio = c.client()
    box = Inbox(sio, ["auth"])
    c.connect(sio, auth={"token": "123"}, what="/ with auth")
    check_eq(
        box.next("auth", lambda a: True, "'auth' event on /"), [{"token": "123"}], "auth echoed"
    )


@check_case
def connect_custom_with_auth(c):
    sio = c.client()
    box = Inbox(sio, ["auth"], namespace="/custom")
    c.connect(sio, namespaces=["/custom"], auth={"token": "abc", "n": 1}, what="/custom")
    check_eq(
        box.next("auth", lambda a: True, "'auth' event on /custom"),
        [{"token": "abc", "n": 1}],
        "/custom auth payload",
    )
    check_eq(
        emit_ack(sio, "message-with-ack", "x", 2, {"y": [None]}, namespace="/custom"),
        ["x", 2, {"y": [None]}],
        "/custom message-with-ack reply",
    )


@check_case
def multiplexing_main_and_custom(c):
    sio = c.client()
    main = Inbox(sio, ["auth", "message-back"], namespace="/")
    custom = Inbox(sio, ["auth"], namespace="/custom")
    c.connect(sio, namespaces=["/", "/custom"], auth={"token": "mux"}, what="/ + /custom")
    check(
        sio.get_sid("/") != sio.get_sid("/custom"),
        "each namespace must get its own sid, got the same for / and /custom",
    )
    check_eq(main.next("auth", lambda a: True, "'auth' on /"), [{"token": "mux"}], "/ auth")
    check_eq(
        custom.next("auth", lambda a: True, "'auth' on /custom"), [{"token": "mux"}], "/custom auth"
    )
    check_eq(emit_ack(sio, "message-with-ack", "main", 1), ["main", 1], "ack on /")
    check_eq(
        emit_ack(sio, "message-with-ack", "custom", 2, namespace="/custom"),
        ["custom", 2],
        "ack on /custom",
    )
    t = token("mux")
    emit(sio, "message", t)
    check_eq(main.next("message-back", first_arg_is(t), "'message-back' on /"), [t], "echo on /")


@check_case
def message_back_mixed_args(c):
    sio = c.client()
    box = Inbox(sio, ["message-back"])
    c.connect(sio)
    t = token("mixed")
    args = [t, 1, "2", {"3": [True]}, None, 4.5, [False, {"nested": "é ✓ \u2028"}], ""]
    emit(sio, "message", *args)
    check_eq(box.next("message-back", first_arg_is(t), "'message-back'"), args, "message-back")


@check_case
def client_to_server_ack(c):
    sio = c.client()
    c.connect(sio)
    check_eq(
        emit_ack(sio, "message-with-ack", 1, "2", {"3": [False]}),
        [1, "2", {"3": [False]}],
        "ack reply",
    )
    # Several in flight at once: each ack must reach its own callback.
    results = [None] * 10
    events = [threading.Event() for _ in range(10)]
    for i in range(10):

        def cb(*a, i=i):
            results[i] = list(a)
            events[i].set()

        sio.emit("message-with-ack", (i, f"n{i}"), callback=cb)
    for i, ev in enumerate(events):
        check(ev.wait(STEP), f"timed out waiting for concurrent ack #{i}")
        check_eq(results[i], [i, f"n{i}"], f"concurrent ack #{i}")


@check_case
def server_to_client_ack(c):
    sio = c.client()
    box = Inbox(sio, ["server-ack-result"])
    seen = []
    reply_binary = threading.Event()
    reply_empty = threading.Event()

    def on_server_ack(*args):
        seen.append(list(args))
        if reply_empty.is_set():
            return None  # python-socketio still acks, with no arguments
        if reply_binary.is_set():
            return (b"\x09\x08\x07", {"bin": b"ack"}, *args)
        return ("pong", *args)

    sio.on("server-ack", on_server_ack)
    c.connect(sio)
    emit(sio, "request-server-ack", 1, {"a": "b"})
    check_eq(
        box.next("server-ack-result", lambda a: True, "'server-ack-result'"),
        ["pong", 1, {"a": "b"}],
        "server-ack-result must carry the client's ack reply",
    )
    check_eq(seen, [[1, {"a": "b"}]], "server-ack arguments")

    # Binary in the client's ack reply (BINARY_ACK from client to server).
    reply_binary.set()
    emit(sio, "request-server-ack", "b")
    check_same(
        box.next("server-ack-result", lambda a: True, "'server-ack-result' (binary reply)"),
        [b"\x09\x08\x07", {"bin": b"ack"}, "b"],
        "server-ack-result with binary",
    )

    # An ack with no arguments.
    reply_empty.set()
    emit(sio, "request-server-ack", "c")
    check_eq(
        box.next("server-ack-result", lambda a: True, "'server-ack-result' (empty reply)"),
        [],
        "server-ack-result for an empty ack",
    )


@check_case
def binary_both_ways(c):
    sio = c.client()
    box = Inbox(sio, ["message-back"])
    c.connect(sio)
    t = token("bin")
    big = bytes((i * 31) & 0xFF for i in range(64 * 1024))
    args = [
        t,
        b"\x01\x02\x03",
        {"nested": {"buf": b"\x04\x05\x06", "list": [b"\x07", 8]}},
        b"\x00\xff\x1eb",  # NUL, 0xff, record separator, 'b'
        big,
    ]
    emit(sio, "message", *args)
    check_same(
        box.next("message-back", first_arg_is(t), "'message-back' (binary)"),
        args,
        "message-back with binary",
    )
    check_same(
        emit_ack(sio, "message-with-ack", b"\x01\x02", {"b": b"\x03"}),
        [b"\x01\x02", {"b": b"\x03"}],
        "binary ack",
    )


@check_case
def rooms_reach_exactly_the_members(c):
    a, b, cc = c.client(), c.client(), c.client()
    ia, ib, ic = (Inbox(s, ["room-message", "broadcast"]) for s in (a, b, cc))
    for name, s in (("a", a), ("b", b), ("c", cc)):
        c.connect(s, what=f"client {name}")
    check_eq(emit_ack(a, "join", "r1"), ["ok"], "join ack (a)")
    check_eq(emit_ack(b, "join", "r1"), ["ok"], "join ack (b)")

    t1 = token("room")
    check_eq(emit_ack(a, "emit-to-room", "r1", t1, 42), ["ok"], "emit-to-room ack")
    check_eq(ia.next("room-message", first_arg_is(t1), "room-message at a"), [t1, 42], "at a")
    check_eq(ib.next("room-message", first_arg_is(t1), "room-message at b"), [t1, 42], "at b")
    # Marker: a broadcast requested after the room emit; once c has it, a room-message for c
    # would have arrived before it.
    m1 = token("marker")
    emit(a, "request-broadcast", m1)
    ic.next("broadcast", first_arg_is(m1), "marker broadcast at c")
    check_eq(ic.count("room-message"), 0, "room-messages at c (not in r1)")

    # After b leaves, only a gets the room message.
    check_eq(emit_ack(b, "leave", "r1"), ["ok"], "leave ack (b)")
    t2 = token("room")
    check_eq(emit_ack(a, "emit-to-room", "r1", t2), ["ok"], "emit-to-room ack 2")
    check_eq(ia.next("room-message", first_arg_is(t2), "room-message 2 at a"), [t2], "2 at a")
    m2 = token("marker")
    emit(a, "request-broadcast", m2)
    ib.next("broadcast", first_arg_is(m2), "marker 2 at b")
    ic.next("broadcast", first_arg_is(m2), "marker 2 at c")
    check_eq(ib.count("room-message", first_arg_is(t2)), 0, "room-messages at b after leaving")
    check_eq(ic.count("room-message"), 0, "room-messages at c")
    check_eq(ia.count("room-message"), 0, "unexpected extra room-messages at a")


@check_case
def broadcast_reaches_everyone(c):
    clients = [c.client() for _ in range(3)]
    boxes = [Inbox(s, ["broadcast"]) for s in clients]
    for i, s in enumerate(clients):
        c.connect(s, what=f"client {i}")
    t = token("bcast")
    emit(clients[1], "request-broadcast", t, {"n": 1}, [2])
    for i, box in enumerate(boxes):
        check_eq(
            box.next("broadcast", first_arg_is(t), f"broadcast at client {i}"),
            [t, {"n": 1}, [2]],
            f"broadcast payload at client {i}",
        )


def _expect_connect_error(c, namespace, auth, what):
    sio = c.client()
    errors = []
    got = threading.Event()

    def on_error(*data):
        errors.append(list(data))
        got.set()

    sio.on("connect_error", on_error, namespace=namespace)
    try:
        sio.connect(
            URL, namespaces=[namespace], auth=auth, transports=TRANSPORTS, wait_timeout=STEP
        )
    except socketio.exceptions.ConnectionError:
        pass
    else:
        raise CheckFailed(f"{what}: connected, but a connect_error was expected")
    check(got.wait(STEP), f"{what}: no connect_error event")
    check_eq(len(errors), 1, f"{what}: number of connect_error events")
    check_eq(len(errors[0]), 1, f"{what}: connect_error arguments")
    return errors[0][0]


@check_case
def unknown_namespace_rejected(c):
    err = _expect_connect_error(c, "/nope", None, "/nope")
    check_eq(err, {"message": "Invalid namespace"}, "connect_error for an unknown namespace")


@check_case
def private_namespace_middleware(c):
    err = _expect_connect_error(c, "/private", {"token": "wrong"}, "/private with a bad token")
    check_eq(
        err,
        {"message": "unauthorized", "data": {"reason": "bad token"}},
        "connect_error from the middleware",
    )
    err = _expect_connect_error(c, "/private", None, "/private without auth")
    check_eq(err.get("message"), "unauthorized", "connect_error message without auth")

    sio = c.client()
    box = Inbox(sio, ["auth"], namespace="/private")
    c.connect(sio, namespaces=["/private"], auth={"token": "secret"}, what="/private (good)")
    check_eq(
        box.next("auth", lambda a: True, "'auth' on /private"), [{"token": "secret"}], "auth"
    )
    check_eq(emit_ack(sio, "message-with-ack", "p", namespace="/private"), ["p"], "/private ack")


@check_case
def client_disconnect_is_clean(c):
    sio = c.client()
    reasons = []
    gone = threading.Event()

    def on_disconnect(*reason):
        reasons.append(list(reason))
        gone.set()

    sio.on("disconnect", on_disconnect)
    c.connect(sio)
    sio.disconnect()
    check(gone.wait(STEP), "no 'disconnect' event after sio.disconnect()")
    check_eq(reasons, [[sio.reason.CLIENT_DISCONNECT]], "disconnect reason")
    check_eq(sio.connected, False, "sio.connected after disconnect")
    check_eq(sio.eio.state, "disconnected", "Engine.IO state after disconnect")

    # The server is still fine afterwards.
    sio2 = c.client()
    c.connect(sio2, what="/ after a disconnect")
    check_eq(emit_ack(sio2, "message-with-ack", 1), [1], "ack after another client left")


@check_case
def transport_in_use(c):
    sio = c.client()
    box = Inbox(sio, ["message-back"])
    c.connect(sio)  # asserts the transport (websocket after the upgrade in upgrade mode)
    t = token("transport")
    emit(sio, "message", t, b"\x01")
    check_same(
        box.next("message-back", first_arg_is(t), "'message-back' on the final transport"),
        [t, b"\x01"],
        f"message-back over {sio.transport()}",
    )


# ------------------------------------------------------------------------------------------


def main():
    if not URL:
        print("interop: TICKWIRE_URL is not set (e.g. http://127.0.0.1:3000)", file=sys.stderr)
        return 2
    if TRANSPORTS is None:
        print(
            f"interop: TICKWIRE_TRANSPORTS must be websocket, polling or upgrade, got {MODE}",
            file=sys.stderr,
        )
        return 2
    timer = threading.Timer(GLOBAL, _global_timeout)
    timer.daemon = True
    timer.start()
    logging.basicConfig(level=logging.WARNING)
    print(
        f"# python-socketio {metadata.version('python-socketio')} interop: {URL} "
        f"transports={TRANSPORTS} ({MODE})",
        flush=True,
    )
    passed = failed = 0
    for fn in CHECKS:
        c = Check()
        start = time.monotonic()
        try:
            fn(c)
        except Exception as exc:  # noqa: BLE001 - report every kind of failure
            failed += 1
            print(f"FAIL {fn.__name__}: {exc}", flush=True)
            if not isinstance(exc, CheckFailed):
                traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {fn.__name__} ({(time.monotonic() - start) * 1000:.0f} ms)", flush=True)
        finally:
            c.close()
    timer.cancel()
    print(f"# python-socketio interop ({MODE}): {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
