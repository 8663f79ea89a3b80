"""IptablesNet on real namespaces: drop really stops TCP, only between the named pair, and heal restores it and
removes exactly the rules it added."""
from __future__ import annotations

import subprocess

import pytest

from harness.backends.netns import NetnsBackend
from harness.net import CHAIN
from netns_helpers import dial, require_netns, start_greeter, wait_listening

pytestmark = pytest.mark.cluster
NODES = ["n1", "n2", "n3"]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    require_netns()
    backend = NetnsBackend(state_dir=str(tmp_path_factory.mktemp("state")))
    try:
        backend.create(NODES)
        for node in NODES:
            start_greeter(backend.remote(node))
        for node in NODES:
            wait_listening(backend.remote(node), "127.0.0.1")
        yield backend
    finally:
        backend.destroy()


@pytest.fixture
def net(backend):
    net = backend.net()
    try:
        yield net
    finally:
        net.heal()


def input_rules(backend, node):
    return backend.remote(node).run(["iptables", "-w", "-S", "INPUT"]).stdout.splitlines()


def host_rules():
    return subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True, check=True).stdout


def test_drop_stops_tcp_from_that_node_only(backend, net):
    n1, n2, n3 = (backend.remote(n) for n in NODES)
    assert dial(n1, "n2") == "n2"
    net.drop("n2", "n1")
    assert dial(n1, "n2", 2) == "unreachable"
    assert dial(n3, "n2") == "n2"      # other nodes still reach n2
    assert dial(n2, "n3") == "n3"      # and n2 still reaches others
    assert len(net.rules("n2")) == 1 and backend.address("n1") in net.rules("n2")[0]


def test_heal_restores_tcp_and_removes_exactly_our_rules(backend, net):
    before = {node: input_rules(backend, node) for node in NODES}
    host_before = host_rules()
    net.drop("n1", "n3")
    net.drop("n3", "n1")
    assert dial(backend.remote("n3"), "n1", 2) == "unreachable"
    assert CHAIN not in host_rules()   # the control machine's firewall is never touched
    net.heal()
    assert dial(backend.remote("n3"), "n1") == "n1"
    assert dial(backend.remote("n1"), "n3") == "n3"
    for node in NODES:
        assert input_rules(backend, node) == before[node]
        assert CHAIN not in backend.remote(node).run(["iptables", "-w", "-S"]).stdout
    assert host_rules() == host_before


def test_heal_leaves_rules_it_did_not_add(backend, net):
    n2 = backend.remote("n2")
    foreign = ["INPUT", "-p", "udp", "--dport", "9", "-j", "DROP"]
    n2.run(["iptables", "-w", "-A", *foreign])
    try:
        net.drop("n2", "n3")
        net.heal()
        assert "-A INPUT -p udp -m udp --dport 9 -j DROP" in input_rules(backend, "n2")
    finally:
        n2.run(["iptables", "-w", "-D", *foreign])


def test_a_fresh_net_heals_what_an_earlier_one_left(backend, net):
    net.drop("n3", "n2")
    from harness.net import IptablesNet

    fresh = IptablesNet({n: backend.remote(n) for n in NODES}, backend.address)
    fresh.heal()
    assert dial(backend.remote("n2"), "n3") == "n3"


def test_drop_fraction_installs_a_random_match_and_full_fraction_cuts(backend, net):
    net.drop_fraction("n1", "n2", 0.25)
    assert "--probability 0.25" in net.rules("n1")[0]
    net.heal()
    net.drop_fraction("n1", "n2", 1.0)
    assert dial(backend.remote("n2"), "n1", 2) == "unreachable"


def test_bad_arguments_are_refused(net):
    with pytest.raises(ValueError):
        net.drop_fraction("n1", "n2", 0)
    with pytest.raises(ValueError):
        net.drop_fraction("n1", "n2", 1.5)
    with pytest.raises(ValueError, match="unknown node"):
        net.drop("n1", "n9")
    with pytest.raises(ValueError):
        net.drop("n1", "n1")


def test_drop_still_works_after_another_net_healed(backend, net):
    from harness.net import IptablesNet

    net.drop("n1", "n2")
    IptablesNet({n: backend.remote(n) for n in NODES}, backend.address).heal()
    net.drop("n1", "n2")
    assert dial(backend.remote("n2"), "n1", 2) == "unreachable"
