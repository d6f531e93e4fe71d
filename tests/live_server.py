"""A real Tsudoi server for tests: gunicorn (gthread) in a subprocess, on a free port.

The listening socket is bound here, on port 0, and handed to gunicorn as `fd://N`, so
no other process can take the port between choosing it and binding it. Configuration goes
through the environment, as in production (`app/config.py`); logs go to files, never to
a pipe nobody reads (a full pipe would stall the server in the middle of a burst).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import requests

_SERVER_ERROR = re.compile(r'" 5\d\d ')
_ERROR_LINE = re.compile(
    r"Traceback|database is locked|deadlock detected|\[CRITICAL\]|WORKER TIMEOUT"
)
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "test-secret"  # the same as `make_app()`: manage tokens made in tests work here


@dataclass
class LiveServer:
    database_url: str
    log_dir: Path
    workers: int = 4
    threads: int = 8
    startup_timeout: float = 60.0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Another WSGI app served the same way (the benchmark's baselines), and a page of it
    # that answers 200 once a worker has booted.
    app_module: str = "wsgi:app"
    ready_path: str = "/privacy"
    url: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def access_log(self) -> Path:
        return self.log_dir / "access.log"

    @property
    def error_log(self) -> Path:
        return self.log_dir / "error.log"

    def start(self) -> LiveServer:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(2048)
        port = listener.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": SECRET_KEY,
            "RATELIMIT_ENABLED": "false",
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("TSUDOI_PRODUCTION", None)
        env.pop("FLASK_ENV", None)
        command = [
            sys.executable, "-m", "gunicorn",
            "--config", str(PROJECT_ROOT / "gunicorn.conf.py"),  # production settings...
            "--bind", f"fd://{listener.fileno()}",  # ...with the test's socket and sizes
            "--workers", str(self.workers),
            "--threads", str(self.threads),
            "--timeout", "120",
            "--graceful-timeout", "10",
            "--no-control-socket",  # its default path is shared by every gunicorn on the host
            "--access-logfile", str(self.access_log),
            "--error-logfile", str(self.error_log),
            self.app_module,
        ]
        with open(self.error_log, "ab") as output:
            self.process = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env=env, stdout=output, stderr=output,
                pass_fds=(listener.fileno(),),
            )
        listener.close()  # gunicorn holds its own copy now
        self.url = f"http://127.0.0.1:{port}"
        try:
            self._wait_until_ready()
        except BaseException:  # never leave a server behind, even on Ctrl-C
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}:\n{self.errors()[-5000:]}"
                )
            try:
                # The socket accepts connections before the workers have booted: the first
                # answer comes once a worker has imported the app. The privacy page needs
                # no database.
                response = requests.get(f"{self.url}{self.ready_path}", timeout=10)
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:1000]}"
            except requests.RequestException as error:
                last = repr(error)
            time.sleep(0.2)
        raise RuntimeError(
            f"gunicorn did not answer within {self.startup_timeout} s ({last}):\n"
            + self.errors()[-5000:]
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # graceful: finish requests, then exit
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def worker_pids(self) -> list[int]:
        """The workers' process ids, as the master has them now (Linux /proc)."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(child) for child in children.read_text().split()] if children.exists() else []

    def errors(self) -> str:
        return self.error_log.read_text(errors="replace") if self.error_log.exists() else ""

    def log_position(self) -> tuple[int, int]:
        """Where the logs end now: pass it to `problems_since` to judge one test alone."""
        return tuple(  # type: ignore[return-value]
            path.stat().st_size if path.exists() else 0
            for path in (self.access_log, self.error_log)
        )

    def problems_since(self, position: tuple[int, int] = (0, 0)) -> list[str]:
        """5xx answers in the access log, and tracebacks or database errors in the error log."""
        access, error = (
            _read_from(path, offset)
            for path, offset in zip((self.access_log, self.error_log), position, strict=True)
        )
        # gunicorn's access-log format: ... "POST /path HTTP/1.1" 503 1234 "referer" "agent"
        problems = [line for line in access.splitlines() if _SERVER_ERROR.search(line)]
        problems += [line for line in error.splitlines() if _ERROR_LINE.search(line)]
        if problems and "Traceback" in error:
            problems.append(error[-5000:])
        return problems

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _read_from(path: Path, offset: int) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")
