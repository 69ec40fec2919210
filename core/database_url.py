"""DATABASE_URL as Django's settings, with libpq's several hosts.

A synchronous standby with automatic failover (docs/operations.md, "Backups and failover") is reached by
listing both hosts, ``postgresql://user@db1:5432,db2:5432/riskshare?target_session_attrs=read-write``:
libpq tries them in turn and keeps the one that accepts writes, so after a failover the next connection
finds the new primary without a proxy in between. dj-database-url refuses that form (``urlsplit`` cannot read
a port out of a host list), so the hosts are taken out first and handed to libpq as the comma lists it takes.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import dj_database_url

_HOST = re.compile(r"^(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>\d+))?$")


def database_settings(url: str, **settings: Any) -> dict[str, Any]:
    """dj-database-url's ``parse``, also for a URL naming several ``host:port`` pairs."""
    parts = urlsplit(url)
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if "," not in hostlist:
        return dj_database_url.parse(url, **settings)
    hosts, ports = [], []
    for item in hostlist.split(","):
        match = _HOST.match(item)
        if match is None or not match["host"]:
            raise dj_database_url.ParseError()
        hosts.append(unquote(match["host"].strip("[]")))
        ports.append(match["port"] or "5432")
    single = urlunsplit(parts._replace(netloc=f"{userinfo}{at}{match['host']}"))
    config = dj_database_url.parse(single, **settings)
    config["HOST"] = ",".join(hosts)
    config["PORT"] = ",".join(ports)
    return config
