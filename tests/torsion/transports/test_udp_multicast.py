"""Multicast ports on every backend, over loopback: options, groups, listenMultiple."""

from __future__ import annotations

import errno
import itertools
import socket
from typing import Any

import pytest
from udp_support import Recorder

from support.network import needs_ipv6
from torsion import error
from torsion._transports.udp import MulticastJoinError
from torsion.testing import run_until

LOCAL = "127.0.0.1"
_groups = itertools.count(1)


def _group() -> str:
    """A fresh IPv4 group per test, so tests don't hear each other's datagrams."""
    return f"228.0.0.{next(_groups) % 250 + 1}"




def _sender(reactor: Any) -> Any:
    """A multicast port that sends through loopback with loopback mode on."""
    port = reactor.listenMulticast(0, Recorder())
    assert run_until(reactor, port.setOutgoingInterface(LOCAL)) == 1
    port.setLoopbackMode(True)
    return port


def test_option_defaults_and_setters(reactor: Any) -> None:
    """TTL defaults to 1, loopback to on, the outgoing interface to 0.0.0.0;
    the setters change what the getters report."""
    port = reactor.listenMulticast(0, Recorder())
    assert port.getTTL() == 1
    assert port.getLoopbackMode() is True
    assert port.getOutgoingInterface() == "0.0.0.0"
    port.setTTL(3)
    assert port.getTTL() == 3
    port.setLoopbackMode(0)
    assert port.getLoopbackMode() is False
    assert run_until(reactor, port.setOutgoingInterface(LOCAL)) == 1
    assert port.getOutgoingInterface() == LOCAL


def test_ttl_out_of_range_is_value_error(reactor: Any) -> None:
    """setTTL takes 0-255 and names the bad value otherwise."""
    port = reactor.listenMulticast(0, Recorder())
    with pytest.raises(ValueError, match="300"):
        port.setTTL(300)


def test_outgoing_interface_by_host_name(reactor: Any) -> None:
    """setOutgoingInterface resolves a host name (in the thread pool) first."""
    port = reactor.listenMulticast(0, Recorder())
    assert run_until(reactor, port.setOutgoingInterface("localhost")) == 1
    assert port.getOutgoingInterface() == LOCAL


def test_joined_group_receives_datagrams(reactor: Any) -> None:
    """A port that joined a group on 127.0.0.1 receives datagrams sent to the group."""
    group = _group()
    listener = Recorder()
    lport = reactor.listenMulticast(0, listener)
    assert run_until(reactor, lport.joinGroup(group, LOCAL)) is None
    sender = _sender(reactor)
    sender.write(b"to the group", (group, lport.getHost().port))
    run_until(reactor, listener.expect(1))
    assert listener.received == [(b"to the group", (LOCAL, sender.getHost().port))]


def test_listen_multiple_both_receive(reactor: Any) -> None:
    """Two ports on one port number with listenMultiple=True both get each group datagram."""
    group = _group()
    first, second = Recorder(), Recorder()
    p1 = reactor.listenMulticast(0, first, listenMultiple=True)
    number = p1.getHost().port
    p2 = reactor.listenMulticast(number, second, listenMultiple=True)
    assert p2.getHost().port == number
    for p in (p1, p2):
        run_until(reactor, p.joinGroup(group, LOCAL))
    sender = _sender(reactor)
    sender.write(b"both", (group, number))
    run_until(reactor, first.expect(1))
    run_until(reactor, second.expect(1))
    assert first.datagrams == second.datagrams == [b"both"]


def test_without_listen_multiple_port_is_taken(reactor: Any) -> None:
    """Without listenMultiple, a second bind of the same port is CannotListenError."""
    p1 = reactor.listenMulticast(0, Recorder())
    with pytest.raises(error.CannotListenError):
        reactor.listenMulticast(p1.getHost().port, Recorder())


def test_leave_group_stops_delivery(reactor: Any) -> None:
    """After leaveGroup, group datagrams no longer arrive (a unicast marker sent
    afterwards arrives alone)."""
    group = _group()
    listener = Recorder()
    lport = reactor.listenMulticast(0, listener)
    number = lport.getHost().port
    run_until(reactor, lport.joinGroup(group, LOCAL))
    assert run_until(reactor, lport.leaveGroup(group, LOCAL)) is None
    sender = _sender(reactor)
    sender.write(b"group", (group, number))
    sender.write(b"marker", (LOCAL, number))
    run_until(reactor, listener.expect(1))
    assert listener.datagrams == [b"marker"]


def test_join_non_multicast_address_fails(reactor: Any) -> None:
    """Joining a unicast address fails with MulticastJoinError(group, interface, errno, text)."""
    port = reactor.listenMulticast(0, Recorder())
    with pytest.raises(MulticastJoinError) as info:
        run_until(reactor, port.joinGroup("1.2.3.4", LOCAL))
    assert info.value.args[:3] == ("1.2.3.4", LOCAL, errno.EINVAL)


def test_leave_group_not_joined_fails(reactor: Any) -> None:
    """Leaving a group never joined fails with MulticastJoinError (EADDRNOTAVAIL)."""
    port = reactor.listenMulticast(0, Recorder())
    with pytest.raises(MulticastJoinError) as info:
        run_until(reactor, port.leaveGroup(_group(), LOCAL))
    assert info.value.args[2] == errno.EADDRNOTAVAIL


def test_join_on_any_interface(reactor: Any) -> None:
    """joinGroup's interface defaults to any (0.0.0.0)."""
    port = reactor.listenMulticast(0, Recorder())
    run_until(reactor, port.joinGroup(_group()))


@needs_ipv6
def test_ipv6_group_options_and_membership(reactor: Any) -> None:
    """An IPv6 multicast port joins and leaves a group on "lo" by name, and its
    hop limit, loopback and outgoing interface (an index) can be set."""
    lo = socket.if_nametoindex("lo")
    port = reactor.listenMulticast(0, Recorder(), interface="::")
    assert run_until(reactor, port.joinGroup("ff12::7a", "lo")) is None
    assert run_until(reactor, port.leaveGroup("ff12::7a", lo)) is None
    port.setTTL(5)
    assert port.getTTL() == 5
    port.setLoopbackMode(False)
    assert port.getLoopbackMode() is False
    assert run_until(reactor, port.setOutgoingInterface("lo")) == 1
    assert port.getOutgoingInterface() == lo


@needs_ipv6
def test_ipv6_unknown_interface_fails(reactor: Any) -> None:
    """An IPv6 interface name that does not exist fails the join, naming it."""
    port = reactor.listenMulticast(0, Recorder(), interface="::")
    with pytest.raises(MulticastJoinError, match="no-such-if0"):
        run_until(reactor, port.joinGroup("ff12::7a", "no-such-if0"))
