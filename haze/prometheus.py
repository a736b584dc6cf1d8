"""A local Prometheus server (Debian's ``prometheus`` package) scraping the running workers.

``make prometheus-up`` (``python -m haze prometheus up``) and the integration tests use it. The
scrape config is ``deploy/prometheus/prometheus.yml`` (the one a deployment starts from) with
its ``haze`` job's targets replaced by the local workers' ``127.0.0.1:<SCREEN_HTTP_PORT>``; the
alert rules beside it are loaded too. The server binds to 127.0.0.1 only, keeps its data in its
own folder (``.services/prometheus`` for the make target) and is stopped by its pid.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import yaml

from haze.services import ROOT, Service, ServiceError, port_open

DEPLOY = ROOT / "deploy" / "prometheus"
SCRAPE_CONFIG = DEPLOY / "prometheus.yml"
ALERTS = DEPLOY / "alerts.yml"
JOB = "haze"


def _apt_install(package: str) -> str:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "not root (or no apt-get)"
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return result.stderr[-2000:]


def prometheus_binary() -> str:
    """Debian's prometheus (with promtool); installed with apt when missing and running as root.

    ``--no-install-recommends`` leaves out the node exporter, which would start a second
    daemon. On a machine with systemd the package enables its own service on port 9090; the
    server started here is a separate process on its own port and folder."""
    found = shutil.which("prometheus")
    if found:
        return found
    why = _apt_install("prometheus")
    found = shutil.which("prometheus")
    if found:
        return found
    raise ServiceError(
        "prometheus is not installed and could not be installed "
        f"(`sudo apt-get install --no-install-recommends prometheus`): {why}"
    )


def scrape_config(targets: Sequence[str], *, interval_s: float = 5.0) -> dict[str, Any]:
    """The deployment's scrape config with the ``haze`` job pointed at ``targets``."""
    document: dict[str, Any] = yaml.safe_load(SCRAPE_CONFIG.read_text())
    document.setdefault("global", {})["scrape_interval"] = f"{interval_s:g}s"
    jobs = [job for job in document.get("scrape_configs", []) if job.get("job_name") == JOB]
    if not jobs:
        raise ServiceError(f"{SCRAPE_CONFIG} has no scrape job named {JOB!r}")
    jobs[0]["static_configs"] = [{"targets": list(targets)}]
    jobs[0]["scrape_interval"] = f"{interval_s:g}s"
    jobs[0]["scrape_timeout"] = f"{min(interval_s, 10.0):g}s"
    document["rule_files"] = [str(ALERTS)]
    return document


class PrometheusService(Service):
    """One Prometheus server on 127.0.0.1:``port`` scraping ``targets``."""

    def __init__(
        self, port: int, data_dir: Path, targets: Sequence[str], *, interval_s: float = 5.0
    ) -> None:
        super().__init__("prometheus", port, data_dir)
        self.targets = list(targets)
        self.interval_s = interval_s

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start(self, timeout_s: float = 60.0) -> None:
        if self.running():
            return
        if port_open(self.port):
            raise ServiceError(f"port {self.port} is taken by another process; set PROMETHEUS_PORT")
        binary = prometheus_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(scrape_config(self.targets, interval_s=self.interval_s)))
        self._spawn(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={self.data_dir / 'data'}",
                "--storage.tsdb.retention.time=2d",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ]
        )
        self.wait_healthy(timeout_s)

    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>`` and the ``data`` of its answer; raises on an error status."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            body = orjson.loads(exc.read() or b"{}")
            raise ServiceError(f"prometheus {path} {params}: {body.get('error', exc)}") from exc
        if body.get("status") != "success":
            raise ServiceError(f"prometheus {path} {params}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (``[{"metric": {...}, "value": [t, "v"]}, ...]``)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    def targets_health(self) -> list[dict[str, Any]]:
        active: list[dict[str, Any]] = self.api("targets")["activeTargets"]
        return active


def promtool_binary() -> str:
    """promtool ships in the same Debian package."""
    prometheus_binary()
    found = shutil.which("promtool")
    if found is None:
        raise ServiceError("promtool is missing although prometheus is installed")
    return found
