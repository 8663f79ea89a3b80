"""How the kazoo client base turns kazoo's exceptions into completions (pure: no server needed)."""
from __future__ import annotations

import pytest
from kazoo.exceptions import (BadVersionError, ConnectionClosedError, ConnectionLoss, NodeExistsError,
                              NoNodeError, NotEmptyError, OperationTimeoutError, SessionExpiredError)
from kazoo.handlers.threading import KazooTimeoutError

from checkers.history import Op
from harness.client import complete_exception, completion

WRITE = Op("invoke", 3, "write", 7, key=1, node="n2", extra={"final": True})


@pytest.mark.parametrize("exc, name", [(NoNodeError(), "no-node"), (BadVersionError(), "bad-version"),
                                       (NodeExistsError(), "node-exists"), (NotEmptyError(), "not-empty")])
@pytest.mark.parametrize("is_read", [False, True])
def test_definite_rejections_fail(exc, name, is_read):
    done = complete_exception(WRITE, exc, is_read)
    assert (done.type, done.error) == ("fail", name)


@pytest.mark.parametrize("exc", [ConnectionLoss(), OperationTimeoutError(), SessionExpiredError(),
                                 KazooTimeoutError(), RuntimeError("surprise")])
def test_unknown_outcomes_are_info_for_writes_and_fail_for_reads(exc):
    assert complete_exception(WRITE, exc, is_read=False).type == "info"
    assert complete_exception(WRITE, exc, is_read=True).type == "fail"


def test_closed_client_never_sent_anything():
    assert complete_exception(WRITE, ConnectionClosedError(), is_read=False).type == "fail"


def test_completion_keeps_identity_of_the_invocation():
    done = completion(WRITE, "ok", 7, version=4)
    assert (done.process, done.f, done.key, done.node, done.type) == (3, "write", 1, "n2", "ok")
    assert done.extra == {"final": True, "version": 4}
    assert WRITE.extra == {"final": True} and WRITE.type == "invoke"  # the invocation is untouched
