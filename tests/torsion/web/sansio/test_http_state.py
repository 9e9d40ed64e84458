"""The state machine: the table, the rules after each input, and hypothesis on sequences."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torsion.web.sansio import LocalProtocolError
from torsion.web.sansio._state import (
    TRANSITIONS,
    ConnectionState,
    Input,
    Role,
    State,
    SwitchKind,
)

C, S = Role.CLIENT, Role.SERVER


def run(cs: ConnectionState, *steps: tuple[Role, Input]) -> None:
    for role, inp in steps:
        cs.process_input(role, inp)


def states(cs: ConnectionState) -> tuple[State, State]:
    return cs.states[C], cs.states[S]


def test_simple_cycle_and_next_cycle() -> None:
    """Request, response, both DONE, then back to IDLE."""
    cs = ConnectionState()
    run(cs, (C, Input.REQUEST))
    assert states(cs) == (State.SEND_BODY, State.SEND_RESPONSE)
    run(cs, (C, Input.DATA), (C, Input.END_OF_MESSAGE), (S, Input.INFORMATIONAL))
    assert states(cs) == (State.DONE, State.SEND_RESPONSE)
    run(cs, (S, Input.RESPONSE), (S, Input.DATA), (S, Input.END_OF_MESSAGE))
    assert states(cs) == (State.DONE, State.DONE)
    cs.start_next_cycle()
    assert states(cs) == (State.IDLE, State.IDLE)


def test_keep_alive_disabled_turns_done_into_must_close() -> None:
    """Without keep-alive, DONE becomes MUST_CLOSE, and no next cycle."""
    cs = ConnectionState()
    run(cs, (C, Input.REQUEST), (C, Input.END_OF_MESSAGE))
    cs.process_keep_alive_disabled()
    assert states(cs) == (State.MUST_CLOSE, State.SEND_RESPONSE)
    run(cs, (S, Input.RESPONSE), (S, Input.END_OF_MESSAGE))
    assert states(cs) == (State.MUST_CLOSE, State.MUST_CLOSE)
    with pytest.raises(LocalProtocolError, match="both must be DONE"):
        cs.start_next_cycle()
    run(cs, (S, Input.CONNECTION_CLOSED), (C, Input.CONNECTION_CLOSED))
    assert states(cs) == (State.CLOSED, State.CLOSED)


def test_peer_closing_makes_idle_or_done_must_close() -> None:
    """A side that is IDLE or DONE can't start a cycle once the other has closed."""
    cs = ConnectionState()
    run(cs, (C, Input.CONNECTION_CLOSED))
    assert states(cs) == (State.CLOSED, State.MUST_CLOSE)
    cs = ConnectionState()
    run(cs, (C, Input.REQUEST), (C, Input.END_OF_MESSAGE), (C, Input.CONNECTION_CLOSED))
    assert states(cs) == (State.CLOSED, State.SEND_RESPONSE)  # the server still answers
    run(cs, (S, Input.RESPONSE), (S, Input.END_OF_MESSAGE))
    assert states(cs) == (State.CLOSED, State.MUST_CLOSE)


@pytest.mark.parametrize(
    ("kind", "accept"), [(SwitchKind.UPGRADE, Input.ACCEPT_UPGRADE),
                         (SwitchKind.CONNECT, Input.ACCEPT_CONNECT)]
)
def test_switch_accepted(kind: SwitchKind, accept: Input) -> None:
    """A proposal waits in MIGHT_SWITCH_PROTOCOL; accepting it switches both sides."""
    cs = ConnectionState()
    run(cs, (C, Input.REQUEST))
    cs.process_client_switch_proposal(kind)
    with pytest.raises(LocalProtocolError, match="not complete"):
        cs.process_input(S, accept)  # the request is not complete yet
    run(cs, (C, Input.END_OF_MESSAGE))
    assert states(cs) == (State.MIGHT_SWITCH_PROTOCOL, State.SEND_RESPONSE)
    run(cs, (S, Input.INFORMATIONAL))  # a 100 or 103 first is fine
    assert cs.states[C] is State.MIGHT_SWITCH_PROTOCOL
    run(cs, (S, accept))
    assert states(cs) == (State.SWITCHED_PROTOCOL, State.SWITCHED_PROTOCOL)


def test_switch_declined_by_a_final_response() -> None:
    """Any final response declines: the client goes on to DONE."""
    cs = ConnectionState()
    run(cs, (C, Input.REQUEST))
    cs.process_client_switch_proposal(SwitchKind.UPGRADE)
    run(cs, (C, Input.END_OF_MESSAGE), (S, Input.RESPONSE))
    assert states(cs) == (State.DONE, State.SEND_BODY)
    assert not cs.pending_switch_proposals


def test_accepting_a_switch_nobody_proposed_is_refused() -> None:
    """A 101 with no Upgrade proposal, or a CONNECT accept after an Upgrade, is an error."""
    cs = ConnectionState()
    run(cs, (C, Input.REQUEST))
    cs.process_client_switch_proposal(SwitchKind.UPGRADE)
    run(cs, (C, Input.END_OF_MESSAGE))
    with pytest.raises(LocalProtocolError, match="CONNECT switch"):
        cs.process_input(S, Input.ACCEPT_CONNECT)
    assert cs.states[S] is State.SEND_RESPONSE


def test_server_response_from_idle_only_after_a_client_error() -> None:
    """An error response to an unparsable request is the only response without a request."""
    cs = ConnectionState()
    with pytest.raises(LocalProtocolError, match="before a request"):
        cs.process_input(S, Input.RESPONSE)
    cs.process_error(C)
    assert not cs.keep_alive
    run(cs, (S, Input.RESPONSE), (S, Input.END_OF_MESSAGE))
    assert states(cs) == (State.ERROR, State.MUST_CLOSE)


def test_every_missing_table_entry_is_refused_without_change() -> None:
    """What the table lacks raises LocalProtocolError and leaves both states alone."""
    for role, state, inp in itertools.product(Role, State, Input):
        if (role, state, inp) in TRANSITIONS:
            continue
        cs = ConnectionState()
        cs.states[role] = state
        before = dict(cs.states)
        with pytest.raises(LocalProtocolError):
            cs.process_input(role, inp)
        assert cs.states == before


def test_error_and_switched_are_terminal_in_the_table() -> None:
    """No entry leaves ERROR or SWITCHED_PROTOCOL."""
    assert not [k for k in TRANSITIONS if k[1] in (State.ERROR, State.SWITCHED_PROTOCOL)]


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from(Role), st.sampled_from(
    [*Input, "keep_alive_off", "error", "next_cycle", "propose_upgrade", "propose_connect"]
)), max_size=40))
def test_any_sequence_keeps_the_machine_consistent(steps: list[tuple[Role, object]]) -> None:
    """Whatever happens, each step succeeds or raises LocalProtocolError changing nothing,
    and the states stay consistent with each other."""
    cs = ConnectionState()
    for role, step in steps:
        before = (dict(cs.states), cs.keep_alive, set(cs.pending_switch_proposals))
        try:
            if isinstance(step, Input):
                cs.process_input(role, step)
            elif step == "keep_alive_off":
                cs.process_keep_alive_disabled()
            elif step == "error":
                cs.process_error(role)
            elif step == "next_cycle":
                cs.start_next_cycle()
            elif step == "propose_upgrade":
                cs.process_client_switch_proposal(SwitchKind.UPGRADE)
            else:
                cs.process_client_switch_proposal(SwitchKind.CONNECT)
        except LocalProtocolError:
            assert (dict(cs.states), cs.keep_alive, set(cs.pending_switch_proposals)) == before
        client, server = cs.states[C], cs.states[S]
        assert server is not State.MIGHT_SWITCH_PROTOCOL
        assert client is not State.SEND_RESPONSE
        if not cs.keep_alive:
            assert State.DONE not in (client, server)
        if cs.pending_switch_proposals:
            assert client is not State.DONE
        if (client is State.SWITCHED_PROTOCOL) != (server is State.SWITCHED_PROTOCOL):
            assert State.ERROR in (client, server)
