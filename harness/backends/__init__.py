"""Backends make nodes exist and hand out a Remote per node: netns (here), docker and ssh (later)."""
