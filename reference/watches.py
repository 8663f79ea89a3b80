"""Watch registry: which watchers a transaction's triggers notify. Pure; a watcher is any hashable (a connection).

One-shot data/exist/child watches as in ZooKeeper's WatchManager, plus persistent and persistent-recursive
watches (addWatch). A watcher gets at most one event per trigger even if it holds several matching watches.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable

from reference.codec.constants import EventType
from reference.tree import Tree

_CREATED, _DELETED, _CHANGED, _CHILDREN = (int(EventType.NODE_CREATED), int(EventType.NODE_DELETED),
                                           int(EventType.NODE_DATA_CHANGED), int(EventType.NODE_CHILDREN_CHANGED))

Event = tuple[int, str]   # (EventType, path)

# addWatch modes
PERSISTENT = 0
PERSISTENT_RECURSIVE = 1


class WatchRegistry:
    def __init__(self) -> None:
        self.data: dict[str, set[Hashable]] = {}        # getData and exists watches (ZooKeeper's dataWatches)
        self.child: dict[str, set[Hashable]] = {}
        self.persistent: dict[str, set[Hashable]] = {}
        self.recursive: dict[str, set[Hashable]] = {}

    @staticmethod
    def _add(table: dict[str, set[Hashable]], path: str, watcher: Hashable) -> None:
        s = table.get(path)
        if s is None:
            table[path] = {watcher}
        else:
            s.add(watcher)

    def add_data(self, path: str, watcher: Hashable) -> None:
        self._add(self.data, path, watcher)

    def add_child(self, path: str, watcher: Hashable) -> None:
        self._add(self.child, path, watcher)

    def add_persistent(self, path: str, watcher: Hashable, mode: int) -> None:
        self._add(self.recursive if mode == PERSISTENT_RECURSIVE else self.persistent, path, watcher)

    def remove_watcher(self, watcher: Hashable) -> None:
        """Drop everything a closed connection held."""
        for table in (self.data, self.child, self.persistent, self.recursive):
            empty = []
            for path, s in table.items():
                s.discard(watcher)
                if not s:
                    empty.append(path)
            for path in empty:
                del table[path]

    def remove(self, path: str, watcher: Hashable, kind: int) -> bool:
        """removeWatches: kind 1 children, 2 data, 3 any, 4 persistent, 5 recursive. True if one was removed."""
        tables = {1: (self.child,), 2: (self.data,), 3: (self.child, self.data, self.persistent, self.recursive),
                  4: (self.persistent,), 5: (self.recursive,)}.get(kind, ())
        removed = False
        for table in tables:
            s = table.get(path)
            if s is not None and watcher in s:
                s.discard(watcher)
                if not s:
                    del table[path]
                removed = True
        return removed

    def has(self, path: str, watcher: Hashable, kind: int) -> bool:
        tables = {1: (self.child,), 2: (self.data,), 3: (self.child, self.data, self.persistent, self.recursive),
                  4: (self.persistent,), 5: (self.recursive,)}.get(kind, ())
        return any(watcher in table.get(path, ()) for table in tables)

    def trigger(self, event_type: int, path: str) -> list[tuple[Hashable, Event]]:
        """Remove the one-shot watches this change fires and return (watcher, event) pairs to deliver."""
        fired: dict[Hashable, None] = {}
        if event_type in (_CREATED, _CHANGED, _DELETED):
            s = self.data.pop(path, None)
            if s:
                fired.update(dict.fromkeys(s))
        if event_type in (_CHILDREN, _DELETED):
            s = self.child.pop(path, None)
            if s:
                fired.update(dict.fromkeys(s))
        if self.persistent:
            s = self.persistent.get(path)
            if s:
                fired.update(dict.fromkeys(s))
        if self.recursive and event_type != _CHILDREN:
            p = path
            while True:
                s = self.recursive.get(p)
                if s:
                    fired.update(dict.fromkeys(s))
                if p == "/":
                    break
                i = p.rfind("/")
                p = p[:i] or "/"
        event = (event_type, path)
        return [(w, event) for w in fired]

    def set_watches(self, tree: Tree, relative_zxid: int, watcher: Hashable, data: Iterable[str],
                    exist: Iterable[str], child: Iterable[str], persistent: Iterable[str] = (),
                    recursive: Iterable[str] = ()) -> list[Event]:
        """Re-register a reconnecting client's watches (DataTree.setWatches); returns events already due."""
        due: list[Event] = []
        nodes = tree.nodes
        for path in data:
            n = nodes.get(path)
            if n is None:
                due.append((_DELETED, path))
            elif n.mzxid > relative_zxid:
                due.append((_CHANGED, path))
            else:
                self.add_data(path, watcher)
        for path in exist:
            if path in nodes:
                due.append((_CREATED, path))
            else:
                self.add_data(path, watcher)
        for path in child:
            n = nodes.get(path)
            if n is None:
                due.append((_DELETED, path))
            elif n.pzxid > relative_zxid:
                due.append((_CHILDREN, path))
            else:
                self.add_child(path, watcher)
        for path in persistent:
            self.add_persistent(path, watcher, PERSISTENT)
        for path in recursive:
            self.add_persistent(path, watcher, PERSISTENT_RECURSIVE)
        return due

    def counts(self) -> tuple[int, int, int]:
        """(watching connections, watched paths, total watches) for the wchs four-letter word."""
        watchers: set[Hashable] = set()
        paths: set[str] = set()
        total = 0
        for table in (self.data, self.child, self.persistent, self.recursive):
            for path, s in table.items():
                paths.add(path)
                watchers.update(s)
                total += len(s)
        return len(watchers), len(paths), total
