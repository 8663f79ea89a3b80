"""Partition shapes as graphs of who can reach whom, and the grudges (node -> nodes it drops) they imply.

Pure: every function takes the nodes and a ``random.Random`` and returns a networkx ``Graph`` whose edges are
the links that stay up (a node always reaches itself). ``grudge(graph)`` turns a graph into what iptables has to
do: for each node, the nodes whose packets it drops — every node it has no edge to. A new shape is a function
from (nodes, rng) to a graph, added to ``SHAPES``.
"""
from __future__ import annotations

import math
import random
from typing import Callable, Sequence

import networkx as nx

Grudge = dict[str, list[str]]


def _complete(nodes: Sequence[str]) -> nx.Graph:
    g = nx.complete_graph(list(nodes))
    return g


def components(groups: Sequence[Sequence[str]]) -> nx.Graph:
    """Each group fully connected inside, no links between groups."""
    g = nx.Graph()
    for group in groups:
        g.add_nodes_from(group)
        g.add_edges_from(nx.complete_graph(list(group)).edges)
    return g


def minority_size(n: int) -> int:
    """The largest group that is not a majority (at least 1 when there is more than one node)."""
    return max(1, (n - 1) // 2) if n > 1 else 0


def halves(nodes: Sequence[str], rng: random.Random) -> nx.Graph:
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    cut = len(shuffled) // 2
    return components([shuffled[:cut], shuffled[cut:]])


def minority(nodes: Sequence[str], rng: random.Random) -> nx.Graph:
    """A random minority cut off (connected among itself); the majority stays connected."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    k = minority_size(len(shuffled))
    return components([shuffled[:k], shuffled[k:]])


def one(nodes: Sequence[str], rng: random.Random) -> nx.Graph:
    node = rng.choice(list(nodes))
    return isolate(nodes, node)


def isolate(nodes: Sequence[str], node: str) -> nx.Graph:
    return components([[node], [n for n in nodes if n != node]])


def ring(nodes: Sequence[str], rng: random.Random) -> nx.Graph:
    """Nodes in a random circle, each linked to its nearest neighbours only, so that each node sees a majority
    (itself and ``n // 2`` others) but the majorities overlap and no majority is common to all."""
    order = list(nodes)
    rng.shuffle(order)
    n = len(order)
    others = n // 2                      # a majority is n // 2 + 1 nodes, counting itself
    reach = max(1, math.ceil(others / 2))
    g = nx.Graph()
    g.add_nodes_from(order)
    for i, node in enumerate(order):
        for d in range(1, reach + 1):
            g.add_edge(node, order[(i + d) % n])
            g.add_edge(node, order[(i - d) % n])
    g.remove_edges_from(nx.selfloop_edges(g))
    return g


def bridge(nodes: Sequence[str], rng: random.Random) -> nx.Graph:
    """Two halves that cannot reach each other, and one node (the bridge) that reaches both."""
    shuffled = list(nodes)
    rng.shuffle(shuffled)
    middle, rest = shuffled[0], shuffled[1:]
    cut = len(rest) // 2
    g = components([[middle, *rest[:cut]], [middle, *rest[cut:]]])
    return g


def cuts_something(shape: Callable[[Sequence[str], random.Random], nx.Graph], node_count: int,
                   tries: int = 16) -> bool:
    """Whether ``shape`` cuts any link among ``node_count`` nodes. Some shapes degenerate on few nodes: on three,
    a ring links each node to both others, and a bridge over two nodes joins them."""
    nodes = [f"n{i}" for i in range(1, node_count + 1)]
    return any(any(grudge(shape(nodes, random.Random(seed))).values()) for seed in range(tries))


def grudge(graph: nx.Graph) -> Grudge:
    """node -> the nodes it drops packets from: everything it has no link to (symmetric for these shapes)."""
    nodes = sorted(graph.nodes)
    return {n: sorted(m for m in nodes if m != n and not graph.has_edge(n, m)) for n in nodes}


# shape name -> (nodes, rng) -> graph. ``partition-leader`` is built by the nemesis from the DB's leader.
SHAPES: dict[str, Callable[[Sequence[str], random.Random], nx.Graph]] = {
    "partition-halves": halves,
    "partition-majority": minority,
    "partition-minority": minority,
    "partition-one": one,
    "partition-ring": ring,
    "partition-bridge": bridge,
}
