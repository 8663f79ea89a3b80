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


_DATA, _CHILD, _PERSISTENT, _RECURSIVE = 0, 1, 2, 3
# removeWatches/checkWatches WatcherType -> tables: 1 children, 2 data, 3 any, 4 persistent, 5 recursive
_KIND_TABLES = {1: (_CHILD,), 2: (_DATA,), 3: (_CHILD, _DATA, _PERSISTENT, _RECURSIVE), 4: (_PERSISTENT,),
                5: (_RECURSIVE,)}


class WatchRegistry:
    def __init__(self) -> None:
        self.data: dict[str, set[Hashable]] = {}        # getData and exists watches (ZooKeeper's dataWatches)
        self.child: dict[str, set[Hashable]] = {}
        self.persistent: dict[str, set[Hashable]] = {}
        self.recursive: dict[str, set[Hashable]] = {}
        self._tables = (self.data, self.child, self.persistent, self.recursive)
        # what each watcher holds, so a disconnect costs its own watches, not everyone's
        self._owned: dict[Hashable, set[tuple[int, str]]] = {}

    def _add(self, idx: int, path: str, watcher: Hashable) -> None:
        table = self._tables[idx]
        s = table.get(path)
        if s is None:
            table[path] = {watcher}
        else:
            s.add(watcher)
        owned = self._owned.get(watcher)
        if owned is None:
            self._owned[watcher] = {(idx, path)}
        else:
            owned.add((idx, path))

    def add_data(self, path: str, watcher: Hashable) -> None:
        self._add(_DATA, path, watcher)

    def add_child(self, path: str, watcher: Hashable) -> None:
        self._add(_CHILD, path, watcher)

    def add_persistent(self, path: str, watcher: Hashable, mode: int) -> None:
        self._add(_RECURSIVE if mode == PERSISTENT_RECURSIVE else _PERSISTENT, path, watcher)

    def _drop(self, idx: int, path: str, watcher: Hashable) -> bool:
        table = self._tables[idx]
        s = table.get(path)
        if s is None or watcher not in s:
            return False
        s.discard(watcher)
        if not s:
            del table[path]
        owned = self._owned.get(watcher)
        if owned is not None:
            owned.discard((idx, path))
            if not owned:
                del self._owned[watcher]
        return True

    def remove_watcher(self, watcher: Hashable) -> None:
        """Drop everything a closed connection held."""
        for idx, path in self._owned.pop(watcher, ()):
            table = self._tables[idx]
            s = table.get(path)
            if s is not None:
                s.discard(watcher)
                if not s:
                    del table[path]

    def remove(self, path: str, watcher: Hashable, kind: int) -> bool:
        """removeWatches: True if a watch of that kind was removed."""
        removed = False
        for idx in _KIND_TABLES.get(kind, ()):
            removed = self._drop(idx, path, watcher) or removed
        return removed

    def _pop_one_shot(self, idx: int, path: str, fired: dict[Hashable, None]) -> None:
        s = self._tables[idx].pop(path, None)
        if s:
            owned = self._owned
            key = (idx, path)
            for w in s:
                fired[w] = None
                o = owned.get(w)
                if o is not None:
                    o.discard(key)
                    if not o:
                        del owned[w]

    def has(self, path: str, watcher: Hashable, kind: int) -> bool:
        return any(watcher in self._tables[idx].get(path, ()) for idx in _KIND_TABLES.get(kind, ()))

    def trigger(self, event_type: int, path: str) -> list[tuple[Hashable, Event]]:
        """Remove the one-shot watches this change fires and return (watcher, event) pairs to deliver."""
        fired: dict[Hashable, None] = {}
        if event_type in (_CREATED, _CHANGED, _DELETED) and path in self.data:
            self._pop_one_shot(_DATA, path, fired)
        if event_type in (_CHILDREN, _DELETED) and path in self.child:
            self._pop_one_shot(_CHILD, path, fired)
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
