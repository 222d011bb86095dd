"""The backend process kept running between re-runs of refinement.

An analysis starts its own backend and stops it when done (it holds the detector and can take
minutes). Re-running refinement on a range is the artist's inner loop: a few seconds each, many
times. Paying the interpreter's and torch's start-up (and loading the models) on every re-run
would double that, so one backend stays up for re-runs; the server keeps the models loaded
between requests. It stops when another file is loaded, the add-on is disabled, or Blender
quits (the backend exits when its stdin closes).
"""

from __future__ import annotations

from . import backend_env
from .backend_client import BackendClient

_WARM: dict[str, object] = {"client": None, "python": None}


def client_for(python: str, log_path: str) -> BackendClient:
    """The warm client for this interpreter: the running one, or a new (not yet started) one
    when none is running, it died, or the interpreter changed."""
    client = _WARM["client"]
    if isinstance(client, BackendClient) and _WARM["python"] == python and client.alive \
            and not client.job_active:
        return client
    shutdown()
    client = BackendClient(backend_env.serve_command(python), env=backend_env.serve_env(),
                           log_path=log_path)
    _WARM["client"], _WARM["python"] = client, python
    return client


def is_warm() -> bool:
    client = _WARM["client"]
    return isinstance(client, BackendClient) and client.alive


def shutdown(timeout: float = 2.0) -> None:
    """Stop the warm backend, if any."""
    client = _WARM["client"]
    _WARM["client"] = _WARM["python"] = None
    if isinstance(client, BackendClient):
        client.shutdown(timeout=timeout)
