"""Replicated mode: the consensus core (reference/consensus) wired to the ZooKeeper server shell.

config.py     the ensemble config file (server.N=host:peer_port:client_port, key=value settings)
raftlog.py    the consensus log on disk: hard state, entries, snapshot (CRC-framed, fsync'd)
transport.py  asyncio TCP links between servers on their peer ports
server.py     ReplicatedServer: the Ready loop, forwarding writes to the leader, sessions across the cluster
"""
