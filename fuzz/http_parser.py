"""Fuzz target: bytes from a peer never make the HTTP/1.1 core raise anything unexpected.

The invariant (the contract of ``Connection.next_event``): whatever bytes arrive, split
however, the core returns events or raises ``RemoteProtocolError``, after which the
peer's side is in ``ERROR``. Anything else is a bug.

Run with atheris (coverage-guided; ``pip install atheris``)::

    python fuzz/http_parser.py -runs=100000            # both roles, inputs split by the fuzzer
    python fuzz/http_parser.py -max_total_time=60 corpus_dir/

Without atheris it says so and exits 0. ``check_server`` and ``check_client`` are also
called by the test suite (hypothesis drives them there).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterable, Sequence
from types import ModuleType

from torsion.web.sansio import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    EndOfMessage,
    Event,
    RemoteProtocolError,
    Request,
    Response,
    Role,
    Sentinel,
    State,
)
from torsion.web.sansio._accel import speedups
from torsion.web.sansio._readers import _parse_simple_head_py

__all__ = [
    "check_client",
    "check_fast_lane",
    "check_server",
    "drive",
    "split_by_prefix",
    "test_one_input",
]


def _answer(conn: Connection) -> bool:
    """Play the application when the core is PAUSED; False when nothing more can happen."""
    if conn.our_role is Role.SERVER and conn.our_state is State.SEND_RESPONSE:
        # 404: declines any CONNECT or Upgrade, so the cycle goes on as HTTP/1.1
        conn.send(Response(status_code=404, headers=[("Content-Length", "0")]))
        conn.send(EndOfMessage())
    if conn.states == {Role.CLIENT: State.DONE, Role.SERVER: State.DONE}:
        conn.start_next_cycle()
        if conn.our_role is Role.CLIENT:
            conn.send(Request(method="GET", target="/", headers=[("Host", "fuzz")]))
            conn.send(EndOfMessage())
        return True
    return False


def drive(conn: Connection, pieces: Iterable[bytes]) -> list[Event]:
    """Feed ``pieces`` then EOF to ``conn``, answering as an application would.

    Returns:
        The events parsed, in order.

    Raises:
        RemoteProtocolError: the bytes are not valid HTTP/1.1 (the peer is then in ERROR).
        AssertionError: the invariant broke.
    """
    events: list[Event] = []
    try:
        for piece in [*pieces, b""]:
            conn.receive_data(piece)
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    break
                if event is PAUSED:
                    if _answer(conn):
                        continue
                    break
                assert not isinstance(event, Sentinel)
                events.append(event)
                if isinstance(event, ConnectionClosed):
                    return events
    except RemoteProtocolError:
        assert conn.their_state is State.ERROR, conn
        raise
    return events


def check_server(pieces: Sequence[bytes], **limits: int) -> list[Event] | RemoteProtocolError:
    """Feed a server; return its events, or the RemoteProtocolError it raised."""
    try:
        return drive(Connection(Role.SERVER, **limits), pieces)
    except RemoteProtocolError as exc:
        return exc


def check_client(
    pieces: Sequence[bytes], *, method: str = "GET"
) -> list[Event] | RemoteProtocolError:
    """Feed a client that sent one request; return its events, or its RemoteProtocolError."""
    conn = Connection(Role.CLIENT)
    conn.send(Request(method=method, target="/", headers=[("Host", "fuzz")]))
    conn.send(EndOfMessage())
    try:
        return drive(conn, pieces)
    except RemoteProtocolError as exc:
        return exc


def split_by_prefix(data: bytes) -> tuple[int, list[bytes]]:
    """Use the first byte to choose a role and a split: the fuzzer explores both."""
    if not data:
        return 0, []
    control, body = data[0], data[1:]
    step = (control >> 1) + 1
    return control & 1, [body[i : i + step] for i in range(0, len(body), step)]


def check_fast_lane(data: bytes) -> None:
    """The C accelerator's fast lane answers what its Python twin answers (when built)."""
    if speedups is None:
        return
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return
    buffer = bytearray(data)
    expected = _parse_simple_head_py(buffer, end, 64, 4)
    assert speedups.parse_simple_head(buffer, end, 64, 4) == expected, data


def test_one_input(data: bytes) -> None:
    """The atheris entry point: any input must respect the invariant."""
    role, pieces = split_by_prefix(data)
    if role == 0:
        check_server(pieces, max_incomplete_event_size=4096, max_body_size=1 << 20)
        check_fast_lane(b"".join(pieces))
    else:
        check_client(pieces)


def _instrument_core(atheris: ModuleType) -> None:
    """Instrument the functions of torsion.web.sansio for coverage feedback.

    Only the core: ``atheris.instrument_all()`` would also instrument every loaded
    standard-library module, which takes seconds and guides the fuzzer nowhere useful.
    """
    for name, module in list(sys.modules.items()):
        if not name.startswith("torsion.web.sansio"):
            continue
        for obj in vars(module).values():
            if getattr(obj, "__module__", None) != name:
                continue
            members = vars(obj).values() if inspect.isclass(obj) else [obj]
            for member in members:
                function = getattr(member, "__func__", member)  # classmethods
                if inspect.isfunction(function):
                    atheris.instrument_func(function)


def main(argv: list[str]) -> int:
    try:
        atheris = importlib.import_module("atheris")  # optional: not a dependency
    except ImportError:
        print("atheris is not installed: skipping the HTTP/1.1 fuzz run (pip install atheris)")
        return 0
    _instrument_core(atheris)
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
