"""The HTTP/1.1 connection state machine, as data.

Rules of this module:

- Everything that decides a state transition lives here. ``_connection.py`` turns
  events into :class:`Input` values and calls :meth:`ConnectionState.process_input`;
  it never assigns a state itself.
- The machine does not know which side is ours: the client and the server are each
  held to the same table whether we play them or the peer does. An input that is not
  in the table raises :class:`LocalProtocolError` (the connection turns it into a
  :class:`RemoteProtocolError` when the peer sent it).

Each role has its own state. One request/response exchange (a "cycle") takes both from
``IDLE`` to ``DONE``; ``start_next_cycle`` takes both back to ``IDLE`` when the
connection is kept alive. Beyond the table, a few rules apply after every input
(:meth:`ConnectionState._settle`):

- a client whose request is complete while it proposed a protocol switch (CONNECT or
  Upgrade) waits in ``MIGHT_SWITCH_PROTOCOL`` for the server's answer; the server
  accepting moves both to ``SWITCHED_PROTOCOL``; any other final response declines
  and the client goes on to ``DONE``;
- when keep-alive is off, ``DONE`` becomes ``MUST_CLOSE``;
- when one side has closed, the other cannot start a new cycle: its ``IDLE`` or
  ``DONE`` becomes ``MUST_CLOSE``.

The table can be printed with ``python -m torsion.web.sansio._state``.
"""

from __future__ import annotations

from enum import Enum

from ._errors import LocalProtocolError

__all__ = ["ConnectionState", "Input", "Role", "State", "SwitchKind", "TRANSITIONS"]


class Role(Enum):
    """Which end of the connection: the one that sends requests, or responses."""

    # Members are singletons compared by identity: the identity hash is valid, and much
    # cheaper than Enum's (a Python-level hash of the name) on every table lookup.
    __hash__ = object.__hash__

    CLIENT = "client"
    SERVER = "server"

    @property
    def peer(self) -> Role:
        """The other role."""
        return Role.SERVER if self is Role.CLIENT else Role.CLIENT


class State(Enum):
    """The state of one side of the connection."""

    __hash__ = object.__hash__

    IDLE = "IDLE"
    """Nothing of the current cycle sent yet."""
    SEND_RESPONSE = "SEND_RESPONSE"
    """Server only: the request head arrived; 1xx responses, then a final one, to send."""
    SEND_BODY = "SEND_BODY"
    """The head is sent: ``Data`` and then ``EndOfMessage`` to come."""
    DONE = "DONE"
    """This side's message of the cycle is complete."""
    MUST_CLOSE = "MUST_CLOSE"
    """Done, and the connection will not be reused: close is all that is left."""
    CLOSED = "CLOSED"
    """This side closed (``ConnectionClosed``)."""
    MIGHT_SWITCH_PROTOCOL = "MIGHT_SWITCH_PROTOCOL"
    """Client only: request complete with a CONNECT or Upgrade proposal, awaiting the answer."""
    SWITCHED_PROTOCOL = "SWITCHED_PROTOCOL"
    """The switch happened: the bytes that follow are not HTTP/1.1."""
    ERROR = "ERROR"
    """This side broke the protocol, or its user misused the API: no further use."""


class SwitchKind(Enum):
    """A protocol switch the client may propose."""

    UPGRADE = "Upgrade"
    """An ``Upgrade`` header (with ``Connection: upgrade``): accepted by a 101."""
    CONNECT = "CONNECT"
    """The CONNECT method: accepted by a 2xx final response."""


class Input(Enum):
    """What a side did, as far as the state machine cares."""

    __hash__ = object.__hash__

    REQUEST = "Request"
    INFORMATIONAL = "InformationalResponse"
    RESPONSE = "Response"
    DATA = "Data"
    END_OF_MESSAGE = "EndOfMessage"
    CONNECTION_CLOSED = "ConnectionClosed"
    ACCEPT_UPGRADE = "101 to an Upgrade proposal"
    ACCEPT_CONNECT = "2xx to a CONNECT"


_C, _S = Role.CLIENT, Role.SERVER
# Members the hot paths use, as module constants: on Python 3.11 ``State.DONE`` is an
# unspecialised class-attribute lookup, paid several times per request.
_IDLE, _SEND_RESPONSE, _DONE = State.IDLE, State.SEND_RESPONSE, State.DONE
_REQUEST, _RESPONSE, _END_OF_MESSAGE = Input.REQUEST, Input.RESPONSE, Input.END_OF_MESSAGE

TRANSITIONS: dict[tuple[Role, State, Input], State] = {
    # The client: a request head, body pieces, end of message; closing when not mid-message.
    (_C, State.IDLE, Input.REQUEST): State.SEND_BODY,
    (_C, State.IDLE, Input.CONNECTION_CLOSED): State.CLOSED,
    (_C, State.SEND_BODY, Input.DATA): State.SEND_BODY,
    (_C, State.SEND_BODY, Input.END_OF_MESSAGE): State.DONE,
    (_C, State.DONE, Input.CONNECTION_CLOSED): State.CLOSED,
    (_C, State.MUST_CLOSE, Input.CONNECTION_CLOSED): State.CLOSED,
    (_C, State.CLOSED, Input.CONNECTION_CLOSED): State.CLOSED,
    # The server: 1xx responses, then a final one (or a switch), then its body.
    (_S, State.IDLE, Input.CONNECTION_CLOSED): State.CLOSED,
    # Only when the client is in ERROR: an error response to a request never parsed.
    (_S, State.IDLE, Input.RESPONSE): State.SEND_BODY,
    (_S, State.SEND_RESPONSE, Input.INFORMATIONAL): State.SEND_RESPONSE,
    (_S, State.SEND_RESPONSE, Input.RESPONSE): State.SEND_BODY,
    (_S, State.SEND_RESPONSE, Input.ACCEPT_UPGRADE): State.SWITCHED_PROTOCOL,
    (_S, State.SEND_RESPONSE, Input.ACCEPT_CONNECT): State.SWITCHED_PROTOCOL,
    (_S, State.SEND_BODY, Input.DATA): State.SEND_BODY,
    (_S, State.SEND_BODY, Input.END_OF_MESSAGE): State.DONE,
    (_S, State.DONE, Input.CONNECTION_CLOSED): State.CLOSED,
    (_S, State.MUST_CLOSE, Input.CONNECTION_CLOSED): State.CLOSED,
    (_S, State.CLOSED, Input.CONNECTION_CLOSED): State.CLOSED,
}
"""(role, that role's state, input) -> the role's next state. Missing means forbidden."""

_GONE = (State.CLOSED, State.MUST_CLOSE)
_ACCEPTS = {Input.ACCEPT_UPGRADE: SwitchKind.UPGRADE, Input.ACCEPT_CONNECT: SwitchKind.CONNECT}


class ConnectionState:
    """The states of both sides of one connection, and the rules that move them.

    Attributes:
        states: each role's current state.
        keep_alive: ``False`` once either side said the connection will not be reused.
        pending_switch_proposals: the switches the client proposed in this cycle.

    Example:
        >>> cs = ConnectionState()
        >>> cs.process_input(Role.CLIENT, Input.REQUEST)
        >>> cs.states[Role.CLIENT], cs.states[Role.SERVER]
        (<State.SEND_BODY: 'SEND_BODY'>, <State.SEND_RESPONSE: 'SEND_RESPONSE'>)
    """

    __slots__ = ("keep_alive", "pending_switch_proposals", "states")

    def __init__(self) -> None:
        self.states: dict[Role, State] = {Role.CLIENT: State.IDLE, Role.SERVER: State.IDLE}
        self.keep_alive = True
        self.pending_switch_proposals: set[SwitchKind] = set()

    def __repr__(self) -> str:
        return (
            f"<ConnectionState client={self.states[Role.CLIENT].name}"
            f" server={self.states[Role.SERVER].name} keep_alive={self.keep_alive}>"
        )

    def process_input(self, role: Role, inp: Input) -> None:
        """Apply what ``role`` did.

        Raises:
            LocalProtocolError: the input is not allowed in ``role``'s state; nothing
                changed.
        """
        states = self.states
        state = states[role]
        new_state = TRANSITIONS.get((role, state, inp))
        if new_state is None:
            raise LocalProtocolError(f"{role.value} can't send {inp.value} in state {state.name}")
        if role is _C:
            states[_C] = new_state
            if inp is _REQUEST:
                # The request head is what starts the server's half of the cycle.
                states[_S] = _SEND_RESPONSE
        else:
            if inp in _ACCEPTS or (state is _IDLE and inp is _RESPONSE):
                self._check_server_input(state, inp)
            states[_S] = new_state
            if inp in _ACCEPTS:
                states[_C] = State.SWITCHED_PROTOCOL
            elif inp is _RESPONSE and self.pending_switch_proposals:
                self.pending_switch_proposals.clear()  # a final response declines any switch
        if (
            not self.keep_alive
            or self.pending_switch_proposals
            or states[_C] not in _QUIET
            or states[_S] not in _QUIET
        ):
            self._settle()

    def process_whole_response(self) -> None:
        """Apply the server's RESPONSE and END_OF_MESSAGE at once (a response sent whole).

        The same as the two ``process_input`` calls; without a pending switch, with
        keep-alive on and the client in a quiet state, that is one step to DONE.

        Raises:
            LocalProtocolError: as ``process_input``.
        """
        states = self.states
        if (
            states[_S] is _SEND_RESPONSE
            and self.keep_alive
            and not self.pending_switch_proposals
            and states[_C] in _QUIET
        ):
            states[_S] = _DONE
            return
        self.process_input(_S, _RESPONSE)
        self.process_input(_S, _END_OF_MESSAGE)

    def _check_server_input(self, state: State, inp: Input) -> None:
        client = self.states[Role.CLIENT]
        if state is State.IDLE and inp is Input.RESPONSE and client is not State.ERROR:
            raise LocalProtocolError("server can't send a Response before a request arrives")
        kind = _ACCEPTS.get(inp)
        if kind is not None and (
            kind not in self.pending_switch_proposals or client is not State.MIGHT_SWITCH_PROTOCOL
        ):
            raise LocalProtocolError(
                f"server can't accept a {kind.value} switch: the client did not propose one"
                " or its request is not complete"
            )

    def process_client_switch_proposal(self, kind: SwitchKind) -> None:
        """Record that the client's request, just sent, proposes a protocol switch.

        Raises:
            LocalProtocolError: the client is not sending a request.
        """
        if self.states[Role.CLIENT] is not State.SEND_BODY:
            raise LocalProtocolError("only a request being sent can propose a protocol switch")
        self.pending_switch_proposals.add(kind)

    def process_keep_alive_disabled(self) -> None:
        """Record that the connection will not be reused after this cycle."""
        self.keep_alive = False
        self._settle()

    def process_error(self, role: Role) -> None:
        """Put ``role`` in ``ERROR`` (after it broke the protocol or misused the API).

        The other side keeps its state (a server may still answer a broken request
        with an error response), but keep-alive is off.
        """
        self.states[role] = State.ERROR
        self.keep_alive = False  # whatever follows an error, the connection is not reused
        self._settle()

    def start_next_cycle(self) -> None:
        """Take both sides from ``DONE`` back to ``IDLE`` for the next exchange.

        Raises:
            LocalProtocolError: either side is not in ``DONE``.
        """
        states = self.states
        if states[_C] is not _DONE or states[_S] is not _DONE:
            raise LocalProtocolError(
                f"not in a reusable state: client {states[_C].name},"
                f" server {states[_S].name}; both must be DONE"
            )
        states[_C] = _IDLE
        states[_S] = _IDLE

    def _settle(self) -> None:
        # Each rule only moves states forward, so a few passes reach the fixed point.
        states = self.states
        if (
            self.keep_alive
            and not self.pending_switch_proposals
            and states[Role.CLIENT] in _QUIET
            and states[Role.SERVER] in _QUIET
        ):
            return
        while True:
            client, server = states[Role.CLIENT], states[Role.SERVER]
            if client is State.DONE and self.pending_switch_proposals:
                client = State.MIGHT_SWITCH_PROTOCOL
            elif client is State.MIGHT_SWITCH_PROTOCOL and not self.pending_switch_proposals:
                client = State.DONE
            client = self._must_close(client, server)
            server = self._must_close(server, client)
            if client is states[Role.CLIENT] and server is states[Role.SERVER]:
                return
            states[Role.CLIENT], states[Role.SERVER] = client, server

    def _must_close(self, state: State, peer: State) -> State:
        """``state``, or MUST_CLOSE if it is done for good or the peer has gone."""
        if state is State.DONE and not self.keep_alive:
            return State.MUST_CLOSE
        if peer in _GONE and state in (State.IDLE, State.DONE):
            return State.MUST_CLOSE
        return state


_QUIET = frozenset({State.IDLE, State.SEND_BODY, State.SEND_RESPONSE, State.DONE})


def _print_table() -> None:  # pragma: no cover - a reading aid
    for (role, state, inp), new_state in TRANSITIONS.items():
        print(f"{role.value:7} {state.name:22} --{inp.value}--> {new_state.name}")


if __name__ == "__main__":  # pragma: no cover
    _print_table()
