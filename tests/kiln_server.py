"""A Kiln server on a local Ray of this machine, for tests: one per test session (Ray and Serve take
tens of seconds to start). ``start_kiln_server(models, token)`` → its URL; ``stop_kiln_server()``."""

from __future__ import annotations

import socket
import time

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_kiln_server(models, token: str | None = TOKEN, gpus_per_replica: float = 0.0) -> str:
    from ray import serve

    from inference.remote.server import build_app

    ensure_ray()
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app(token, [str(m) for m in models], "test", gpus_per_replica=gpus_per_replica), name="kiln",
              route_prefix="/")
    return f"http://127.0.0.1:{port}"


def ensure_ray():
    """The test session's local Ray: 4 logical CPUs on this 2-core machine, so the server's replica
    and two cluster workers fit at once."""
    import ray

    if not ray.is_initialized():
        import os
        import tempfile

        os.environ["KILN_LORA_STORE"] = tempfile.mkdtemp(prefix="kiln-server-loras-")  # the workers inherit it
        ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    return ray


def replica_actors() -> list:
    """The Serve replica actors of the Kiln application (to kill one, as a crash would)."""
    import ray
    from ray.util import list_named_actors

    names = [a for a in list_named_actors(all_namespaces=True) if "SERVE_REPLICA" in a["name"] and "kiln" in a["name"]]
    return [ray.get_actor(a["name"], namespace=a["namespace"]) for a in names]


def wait_until(condition, timeout_s: float = 60.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return False


def stop_kiln_server() -> None:
    import ray
    from ray import serve

    serve.shutdown()
    ray.shutdown()
