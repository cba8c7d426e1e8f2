"""A throwaway two-node Ray cluster on this machine: the head on 127.0.0.2, a worker on 127.0.0.3.

Each node is one ``ray start --block`` that we run as a child in a session of its own, so we hold its PID; the
gcs_server, raylet, agents and workers it spawns stay in its process group and are killed with it. Never
``ray stop`` (it stops every Ray on the machine, other people's included).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cluster_procs import ClusterError, Server, forget, free_port, teardown_on_exit

log = logging.getLogger(__name__)

HEAD_IP = "127.0.0.2"
WORKER_IP = "127.0.0.3"
NODE_CPUS = 2
NODE_MEMORY = 2 * 1024**3  # the logical "memory" resource tasks can ask for
OBJECT_STORE = 200 * 1024**2  # per node, in /dev/shm
START_TIMEOUT = 60.0
# Ray puts Unix sockets at <temp>/session_<date>_<time>_<pid>/sockets/plasma_store.1 (about 70 more characters)
# and AF_UNIX paths stop at 107 bytes.
MAX_TEMP_DIR = 36
STARTED = "Ray runtime started."


def _ray_executable() -> str:
    ray = Path(sys.executable).with_name("ray")
    if ray.exists():
        return str(ray)
    found = shutil.which("ray")
    if found is None:
        raise ClusterError("the `ray` command is not installed: pip install 'newsrag[cluster]'")
    return found


@dataclass
class RayCluster:
    """Two Ray nodes; ``address`` is the head's GCS (``127.0.0.2:PORT``) for ``ray.init(address=...)``."""

    temp_dir: Path
    head: Server
    port: int
    worker: Server | None = None
    remove_temp_dir: bool = False
    node_ips: tuple[str, str] = (HEAD_IP, WORKER_IP)
    stopped: bool = field(default=False, repr=False)

    @property
    def address(self) -> str:
        return f"{HEAD_IP}:{self.port}"

    def init_kwargs(self) -> dict[str, str]:
        """What ``ray.init`` needs to join from this machine, where no raylet listens on the default IP."""
        return {"address": self.address, "_node_ip_address": HEAD_IP}

    def servers(self) -> list[Server]:
        return [s for s in (self.head, self.worker) if s is not None]

    def pids(self) -> set[int]:
        """Every PID seen under either node (recorded now and when the nodes started and stop)."""
        return set().union(*(server.record() for server in self.servers()))

    def stop(self) -> None:
        """Stop the worker, then the head: SIGTERM to ``ray start``, then SIGKILL to its group and every PID seen."""
        forget(self)
        for server in reversed(self.servers()):
            server.stop(signal.SIGTERM, grace=5.0)
        if self.remove_temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        self.stopped = True
        log.info("ray cluster at %s stopped", self.address)

    def __enter__(self) -> RayCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_ray(workdir: Path) -> RayCluster:
    """Start the head (127.0.0.2, a free port) and a worker (127.0.0.3), 2 CPUs each, and wait until both nodes are
    alive in ``ray.nodes()``. Raises ClusterError with the node's log when one fails, after stopping both."""
    temp_dir, remove = _temp_dir(Path(workdir))
    port = free_port(HEAD_IP)
    head = _node("ray head", temp_dir, ["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                                        "--include-dashboard=false"])
    cluster = RayCluster(temp_dir=temp_dir, head=head, port=port, remove_temp_dir=remove)
    teardown_on_exit(cluster)
    try:
        _start(head)
        cluster.worker = _node("ray worker", temp_dir, [f"--address={cluster.address}",
                                                        f"--node-ip-address={WORKER_IP}"])
        _start(cluster.worker)
        _wait_for_nodes(cluster)
        cluster.pids()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _temp_dir(workdir: Path) -> tuple[Path, bool]:
    """``workdir/ray`` when its path is short enough for Ray's socket paths, else a short temp dir (removed later)."""
    candidate = workdir.resolve() / "ray"
    if len(str(candidate)) <= MAX_TEMP_DIR:
        candidate.mkdir(parents=True)
        return candidate, False
    return Path(tempfile.mkdtemp(prefix="nr-ray-")), True


def _node(name: str, temp_dir: Path, args: list[str]) -> Server:
    argv = [_ray_executable(), "start", "--block", *args, f"--num-cpus={NODE_CPUS}", "--num-gpus=0",
            f"--memory={NODE_MEMORY}", f"--object-store-memory={OBJECT_STORE}", f"--temp-dir={temp_dir}",
            "--disable-usage-stats"]
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return Server(name=name, argv=argv, log_path=temp_dir / f"{name.replace(' ', '-')}.log", env=env)


def _start(node: Server) -> None:
    """Start ``ray start --block`` and wait until it says the node runs."""
    node.start()
    deadline = time.monotonic() + START_TIMEOUT
    while STARTED not in node.log_path.read_text(errors="replace"):
        node.check()
        if time.monotonic() > deadline:
            raise ClusterError(f"{node.name} did not start in {START_TIMEOUT:.0f} s; see {node.log_path}")
        time.sleep(0.1)
    node.record()


def _wait_for_nodes(cluster: RayCluster) -> None:
    """Join as a driver and wait until ray.nodes() shows both nodes alive on their IPs."""
    import ray

    ray.init(**cluster.init_kwargs(), logging_level=logging.WARNING, log_to_driver=False)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while (alive := sorted(n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"])) != sorted(cluster.node_ips):
            if time.monotonic() > deadline:
                raise ClusterError(f"Ray nodes alive after {START_TIMEOUT:.0f} s: {alive}, wanted {cluster.node_ips}")
            time.sleep(0.1)
    finally:
        ray.shutdown()
