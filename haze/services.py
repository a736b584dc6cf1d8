"""Local infrastructure the project starts itself: Redis (Debian's redis-server) and Apache Kafka
(single-node KRaft, assembled by Maven from Maven Central jars, run with the machine's Java).

Used by ``make services-up`` (through ``python -m haze services``) and by the test fixtures,
which start their own instances on free ports. Every process is started with its pid recorded
in its data folder and stopped by that pid only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from haze.errors import HazeError

ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = ROOT / "deploy" / "kafka" / "pom.xml"
KAFKA_LIB = ROOT / "deploy" / "kafka" / "target" / "lib"


class ServiceError(HazeError):
    """A local service could not be installed, started or reached."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child counts as dead
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


@dataclass
class Service:
    """One local server: where it lives, how it is checked, how it is stopped (by pid)."""

    name: str
    port: int
    data_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.data_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def running(self) -> bool:
        return self.pid() is not None and self.healthy()

    def healthy(self) -> bool:
        return port_open(self.port)

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.data_dir,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.pid() is None:
                tail = (
                    self.log_file.read_text(errors="replace")[-2000:]
                    if self.log_file.exists()
                    else ""
                )
                raise ServiceError(f"{self.name} exited during start-up; log tail:\n{tail}")
            if self.healthy():
                return
            time.sleep(0.2)
        raise ServiceError(f"{self.name} not healthy on port {self.port} after {timeout_s:.0f}s")

    def stop(self, timeout_s: float = 20.0) -> bool:
        """Stop the process this folder started (SIGTERM, then SIGKILL). True if one ran."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL, for failure tests."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)


def redis_server_binary() -> str:
    """Debian's redis-server; installed with apt when missing and running as root."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-qq", "redis-server"], capture_output=True, text=True
        )
        found = shutil.which("redis-server")
        if found:
            return found
        raise ServiceError(f"apt-get install redis-server failed:\n{result.stderr[-2000:]}")
    raise ServiceError("redis-server is not installed: run `sudo apt-get install redis-server`")


class RedisService(Service):
    def __init__(self, port: int, data_dir: Path) -> None:
        super().__init__("redis", port, data_dir)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> None:
        if self.running():
            return
        if port_open(self.port):
            raise ServiceError(f"port {self.port} is taken by another process; set REDIS_PORT")
        binary = redis_server_binary()
        self._spawn(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ]
        )
        self.wait_healthy(timeout_s)


_KAFKA_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={log_dir}
num.partitions={partitions}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
log.segment.bytes=67108864
num.network.threads=1
num.io.threads=2
"""
"""One network and two request threads (Kafka's defaults are 3 and 8): a local broker shares a
few cores with the worker, Redis and the load generator, and every hand-off between its
threads costs a context switch. At a paced 1,000 listings/s on the 2-core reference machine
the broker's CPU a listing fell from ~450 to ~350 us."""

_LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.Kafka=INFO
"""


def kafka_classpath() -> str:
    """The broker jars, assembled by Maven from Maven Central on first use."""
    if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError("Maven (mvn) is needed to assemble Kafka: apt-get install maven")
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0 or not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
            raise ServiceError(f"mvn could not assemble the Kafka jars:\n{result.stdout[-3000:]}")
    return f"{KAFKA_LIB}/*"


def java_binary() -> str:
    found = shutil.which("java")
    if found is None:
        raise ServiceError(
            "Java 17+ is needed to run Kafka: apt-get install openjdk-17-jre-headless"
        )
    return found


class KafkaService(Service):
    """Single-node KRaft broker on 127.0.0.1 (a controller port beside the client port)."""

    def __init__(
        self,
        port: int,
        data_dir: Path,
        *,
        controller_port: int | None = None,
        partitions: int = 4,
        heap: str = "768m",
    ) -> None:
        super().__init__("kafka", port, data_dir)
        self.controller_port = controller_port or port + 1
        self.partitions = partitions
        self.heap = heap

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            return "Kafka Server started" in self.log_file.read_text(errors="replace")
        except OSError:
            return False

    def _configure(self, java: str, classpath: str) -> Path:
        properties = self.data_dir / "server.properties"
        log_dir = self.data_dir / "kraft-logs"
        properties.write_text(
            _KAFKA_PROPERTIES.format(
                port=self.port,
                controller_port=self.controller_port,
                log_dir=log_dir,
                partitions=self.partitions,
            )
        )
        (self.data_dir / "log4j.properties").write_text(_LOG4J)
        if not (log_dir / "meta.properties").exists():
            cluster_id = _kafka_cluster_id()
            result = subprocess.run(
                [
                    java,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(properties),
                    "--ignore-formatted",
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise ServiceError(f"formatting the KRaft log dir failed:\n{result.stderr[-3000:]}")
        return properties

    def start(self, timeout_s: float = 90.0) -> None:
        if self.running():
            return
        if self.pid() is not None:  # started earlier, still coming up
            self.wait_healthy(timeout_s)
            return
        for port in (self.port, self.controller_port):
            if port_open(port):
                raise ServiceError(f"port {port} is taken by another process; set KAFKA_PORT")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        java, classpath = java_binary(), kafka_classpath()
        properties = self._configure(java, classpath)
        self.log_file.write_text("")  # health looks for this start's banner only
        self._spawn(
            [
                java,
                f"-Xms{self.heap}",
                f"-Xmx{self.heap}",
                # ZGC pauses for well under a millisecond; G1 (20 ms target) stopped the broker
                # for 7-26 ms every ~2 s at 1,000 listings/s, a latency spike each time
                "-XX:+UseZGC",
                "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{self.data_dir / 'log4j.properties'}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(properties),
            ]
        )
        self.wait_healthy(timeout_s)


def _kafka_cluster_id() -> str:
    import base64

    # Kafka's own Uuid.randomUuid() rejects ids starting with "-": a command line would read
    # them as an option (seen here: "expected one argument" for -t).
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id
