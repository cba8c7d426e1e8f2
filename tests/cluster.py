"""A cluster a test (or a user trying newsrag's scale-out) can start on one machine and always tear down.

Library: ``start_postgres(workdir)`` -> PgCluster (primary + streaming hot standby, pgvector, 127.0.0.1) and
``start_ray(workdir)`` -> RayCluster (head on 127.0.0.2, worker on 127.0.0.3). Both are context managers; every
process they start is tracked by PID and killed by PID on stop(), on an exception, on SIGINT/SIGTERM and at exit.

Script: ``python tests/cluster.py [--no-ray] [--no-standby]`` starts them, prints one JSON line per cluster on
stdout (and ``export`` hints on stderr), holds until Ctrl-C or SIGTERM, then tears everything down.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from cluster_pg import PgCluster, start_postgres
from cluster_procs import ClusterError

__all__ = ["ClusterError", "PgCluster", "start_postgres"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tests/cluster.py",
        description="Start a throwaway PostgreSQL 18 + pgvector primary and hot standby on 127.0.0.1 (data in a temp "
                    "dir, servers run as 'nobody' under root) and a two-node Ray cluster (head 127.0.0.2, worker "
                    "127.0.0.3); print their URLs as JSON lines; hold until Ctrl-C or SIGTERM; then stop every "
                    "process by PID and remove the data. Needs: pip install 'newsrag[cluster]'.")
    parser.add_argument("--no-ray", action="store_true", help="start only Postgres")
    parser.add_argument("--no-standby", action="store_true", help="start the Postgres primary without a standby")
    parser.add_argument("--workdir", type=Path, help="keep logs and data here (default: a temp dir removed at exit)")
    return parser


def _announce(name: str, fields: dict[str, object], exports: dict[str, str]) -> None:
    print(json.dumps({"cluster": name, **fields}), flush=True)
    for key, value in exports.items():
        print(f"export {key}='{value}'", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="newsrag-cluster-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with ExitStack() as stack:
            started = time.monotonic()
            pg = stack.enter_context(start_postgres(workdir, with_standby=not args.no_standby))
            urls = {"primary_url": pg.primary_url, "multi_url": pg.multi_url}
            if pg.standby is not None:
                urls["standby_url"] = pg.standby_url
            _announce("postgres", {**urls, "pids": sorted(pg.pids()), "seconds": round(time.monotonic() - started, 1)},
                      {"NEWSRAG_PG_URL": pg.multi_url})
            print("ready: Ctrl-C (or SIGTERM) stops everything", file=sys.stderr, flush=True)
            while True:
                for server in pg.servers():
                    server.check()
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr, flush=True)
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
