"""The real system for the bot's tests: `hotline serve`, the Rasa server and the Rasa action server,
each in its own process on loopback, as `scripts/run.sh` starts them."""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.settings import PROJECT_ROOT

RASA_BIN = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trained_model() -> Path:
    """The model `scripts/test.sh` trained, or train it now (cached by content hash under var/rasa)."""
    given = os.environ.get("HOTLINE_TEST_RASA_MODEL")
    if given:
        return PROJECT_ROOT / given
    out = subprocess.run(["bash", "-c", ". scripts/lib.sh && train_bot"], cwd=PROJECT_ROOT, check=True,
                         capture_output=True, text=True, timeout=900)
    return PROJECT_ROOT / out.stdout.strip().splitlines()[-1]


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 30) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class RasaStack:
    workdir: Path
    gateway: str = ""
    rasa: str = ""
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    # Hex: a token passed on the command line must not start with "-" (argparse takes it for an option).
    rasa_token: str = field(default_factory=lambda: secrets.token_hex(16))
    ivr_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.workdir / "hotline.db"

    def start(self, model: Path) -> None:
        gw_port, rasa_port, action_port = free_port(), free_port(), free_port()
        self.gateway, self.rasa = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{rasa_port}"
        env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{self.db_path}",
               "HOTLINE_MEDIA_ROOT": str(self.workdir / "media"), "HOTLINE_SERVER_PORT": str(gw_port),
               "HOTLINE_BOT_RASA_URL": self.rasa, "HOTLINE_API_TOKEN": self.api_token,
               "HOTLINE_RASA_TOKEN": self.rasa_token, "HOTLINE_BOT_ENABLED": "true",
               "HOTLINE_IVR_SECRET": self.ivr_secret, "HOTLINE_EMAIL_PORT": "0"}
        env.pop("HOTLINE_TEST_RASA_MODEL", None)
        py = str(PROJECT_ROOT / ".venv" / "bin" / "python")
        subprocess.run([py, "-m", "gateway.cli", "kb", "import", "config/kb/seed_kb.yaml"], cwd=PROJECT_ROOT,
                       env=env, check=True, capture_output=True, timeout=120)
        logs = self.workdir
        self._spawn([py, "-m", "gateway.cli", "serve"], PROJECT_ROOT, env, logs / "gateway.log")
        self._spawn([str(RASA_BIN), "run", "actions", "--actions", "actions", "-p", str(action_port)],
                    PROJECT_ROOT / "bot", {**env, "SANIC_HOST": "127.0.0.1", "HOTLINE_GATEWAY_URL": self.gateway},
                    logs / "actions.log")
        self._rasa_cmd = ([str(RASA_BIN), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(rasa_port),
                           "--auth-token", self.rasa_token, "-m", str(model), "--endpoints", "endpoints.yml",
                           "--credentials", "credentials.yml"],
                          {**env, "HOTLINE_ACTION_URL": f"http://127.0.0.1:{action_port}/webhook"})
        self.start_rasa()
        self._wait(f"http://127.0.0.1:{action_port}/health", 60)
        self._wait(f"{self.gateway}/healthz", 60)

    def start_rasa(self) -> None:
        cmd, env = self._rasa_cmd
        self._rasa = self._spawn(cmd, PROJECT_ROOT / "bot" / "rasa", env, self.workdir / "rasa.log")
        self._wait(f"{self.rasa}/status?token={self.rasa_token}", 180)

    def stop_rasa(self) -> None:
        self._rasa.terminate()
        self._rasa.wait(30)
        self.procs.remove(self._rasa)

    def tracker(self, session: str) -> dict[str, Any]:
        return http("GET", f"{self.rasa}/conversations/{session}/tracker?token={self.rasa_token}")[1]

    def _spawn(self, cmd: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def _wait(self, url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[:3]} exited with {p.returncode}; see logs in {self.workdir}")
            try:
                if http("GET", url, timeout=2)[0] == 200:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{url} not ready within {seconds:.0f} s; logs in {self.workdir}")

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()

    def say(self, session: str, text: str) -> list[dict[str, Any]]:
        status, body = http("POST", f"{self.gateway}/api/v1/web/messages", {"session": session, "text": text})
        assert status == 200, (status, body)
        return body["replies"]

    def call(self, call_id: str, sequence: int, text: str) -> dict[str, Any]:
        """One final transcript of a phone call through the signed IVR webhook."""
        import hashlib
        import hmac
        body = json.dumps({"type": "transcript", "call_id": call_id, "sequence": sequence, "final": True,
                           "text": text, "caller": "13800000000"}, ensure_ascii=False).encode()
        ts = str(int(time.time()))
        sig = hmac.new(self.ivr_secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(f"{self.gateway}/channels/ivr/events", data=body, method="POST", headers={
            "Content-Type": "application/json", "X-Hotline-Timestamp": ts, "X-Hotline-Signature": sig})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def conversation_state(self, session: str) -> str:
        with sqlite3.connect(self.db_path) as db:
            (state,), = db.execute("SELECT state FROM conversations WHERE channel = 'web' AND key = ? "
                                   "ORDER BY id DESC LIMIT 1", (session,))
        return state

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_token}"}
