"""A screener worker as a child process (``python -m haze run``), for the demo, benchmarks and
integration tests: started with an explicit environment, checked through ``/healthz``, stopped
(or killed) by its own pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from haze.services import ROOT, ServiceError


class WorkerProcess:
    def __init__(self, env: Mapping[str, str], log_path: Path, *, role: str = "all") -> None:
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.log_path = log_path
        self.role = role
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The worker's process id once started (it may have exited since)."""
        return self.proc.pid if self.proc is not None else None

    @property
    def port(self) -> int:
        return int(self.env.get("SCREEN_HTTP_PORT", "6066"))

    def start(self, *, wait_s: float = 120.0) -> WorkerProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps writing to it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "haze", "run", "--loglevel", "warning", "--role", self.role],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()
        self.wait_healthy(wait_s)
        return self

    def health(self) -> dict[str, object] | None:
        import orjson

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                doc: dict[str, object] = orjson.loads(r.read())
                return doc
        except (OSError, ValueError):
            return None

    def wait_healthy(self, wait_s: float) -> None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise ServiceError(
                    f"worker exited with {self.proc.returncode}; see {self.log_path}"
                )
            health = self.health()
            if health and health.get("kafka") == "ok":
                return
            time.sleep(0.25)
        raise ServiceError(f"worker not healthy after {wait_s:.0f}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit (the crash case)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
