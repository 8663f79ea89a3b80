"""Four-letter words on the client port (4lw.commands.whitelist=*)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.cluster


def test_ruok(server):
    assert server.four_letter_word("ruok") == "imok"


def test_isro_says_read_write(server):
    assert server.four_letter_word("isro") == "rw"


@pytest.mark.parametrize("word", ["srvr", "stat"])
def test_srvr_and_stat_report_standalone_mode(server, word):
    reply = server.four_letter_word(word)
    assert "Mode: standalone" in reply.splitlines()
    assert reply.startswith("Zookeeper version: ")


def test_mntr_has_version_and_state(server):
    fields = dict(line.split("\t", 1) for line in server.four_letter_word("mntr").splitlines() if "\t" in line)
    assert fields["zk_server_state"] == "standalone"
    assert fields["zk_version"]


def test_kazoo_command(zk):
    assert zk.client.command(b"ruok") == "imok"


def test_envi_names_a_zookeeper_version_kazoo_can_parse(zk):
    """kazoo's server_version() reads `zookeeper.version=` from envi."""
    assert any(line.startswith("zookeeper.version=") for line in zk.server.four_letter_word("envi").splitlines())
    version = zk.client.server_version()
    assert len(version) == 3 and all(isinstance(part, int) for part in version)
