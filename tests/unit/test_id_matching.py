"""Ids and names are matched whole: ``re.match`` with ``$`` accepts a trailing newline, and a
client id ``"alice\\n"`` would then reach Redis keys, Kafka keys and file paths."""

from __future__ import annotations

import json

import pytest

from ingest.protocol import ProtocolError, parse_hello
from vigil.backup.manifest import is_member_name


def _hello(client_id: str) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "client_id": client_id, "token": "t"})


def test_a_plain_client_id_is_accepted() -> None:  # the refusals below are not vacuous
    assert parse_hello(_hello("alice")).client_id == "alice"


@pytest.mark.parametrize("client_id", ["alice\n", "alice\r\n", "\nalice"])
def test_a_client_id_with_a_newline_is_a_protocol_error(client_id: str) -> None:
    with pytest.raises(ProtocolError):
        parse_hello(_hello(client_id))


def test_backup_member_names_are_matched_whole() -> None:
    assert is_member_name("users.sqlite3")
    assert not is_member_name("users.sqlite3\n")
