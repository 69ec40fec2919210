"""DATABASE_URL with both database hosts: libpq finds the primary (docs/operations.md, failover)."""

from __future__ import annotations

import pytest
from dj_database_url import ParseError

from core.database_url import database_settings


def test_several_hosts_become_libpq_host_and_port_lists():
    config = database_settings(
        "postgresql://app:p%40ss@db1.example:5461,db2.example:5462,[::1]/riskshare"
        "?target_session_attrs=read-write&connect_timeout=3",
        conn_max_age=60,
    )
    assert config["HOST"] == "db1.example,db2.example,::1"
    assert config["PORT"] == "5461,5462,5432"
    assert (config["USER"], config["PASSWORD"], config["NAME"]) == ("app", "p@ss", "riskshare")
    assert config["OPTIONS"] == {"target_session_attrs": "read-write", "connect_timeout": 3}
    assert config["CONN_MAX_AGE"] == 60


def test_one_host_is_parsed_as_before():
    config = database_settings("postgresql://postgres@127.0.0.1:5432/riskshare")
    assert (config["HOST"], config["PORT"], config["NAME"]) == ("127.0.0.1", 5432, "riskshare")


def test_an_empty_host_in_the_list_is_refused():
    with pytest.raises(ParseError):
        database_settings("postgresql://u@db1:5432,,db2/riskshare")
