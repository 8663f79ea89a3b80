"""Databases under test: how to install, configure, start, stop and inspect a server on a node."""
