"""Typed settings: `config/hotline.toml`, overridden by `HOTLINE_<SECTION>_<KEY>` variables.

Secrets never live in the TOML file: they come from the environment only
(`HOTLINE_API_TOKEN`, ...), so a committed config can never leak one.
Unknown keys, in the file or in `HOTLINE_*` variables, are an error: a typo
must not silently fall back to a default.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from nlu.kb_decision import DecisionThresholds
    from routing.clock import Clock

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "hotline.toml"

# Environment variables that start with HOTLINE_ but are not settings.
_NON_SETTING_VARS = {"HOTLINE_CONFIG", "HOTLINE_NEW_PASSWORD"}
_NON_SETTING_PREFIXES = ("HOTLINE_TEST_", "HOTLINE_BENCH_")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8080
    # Upper bound of one HTTP request body; per-kind media limits are lower.
    max_request_bytes: int = 60 * 1024 * 1024
    # How long `POST /api/v1/web/messages` waits for the pipeline's replies.
    reply_wait_seconds: float = 8.0
    # Console cookies only over HTTPS; off for the local http://127.0.0.1 set-up. Requests that came
    # over HTTPS (directly, or per X-Forwarded-Proto from a trusted proxy) get Secure cookies anyway.
    secure_cookies: bool = False
    # Proxies in front of the gateway (addresses or networks): behind them the client is the last
    # X-Forwarded-For hop that is not one of them and X-Forwarded-Proto is believed; without them both
    # headers are ignored (they are whatever the client wrote).
    trusted_proxies: list[str] = Field(default_factory=list)
    # How often an open console WebSocket re-checks its session (expiry, logout elsewhere).
    console_session_recheck_seconds: float = Field(default=30.0, gt=0)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress
        for p in value:
            ipaddress.ip_network(p, strict=False)  # ValueError: not an address or network
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/hotline.db"
    auto_migrate: bool = True
    echo: bool = False
    pool_size: int = 10
    connect_timeout_seconds: float = 5.0


class MediaSettings(_Section):
    root: str = "var/media"
    max_image_bytes: int = 10 * 1024 * 1024
    max_video_bytes: int = 50 * 1024 * 1024
    max_voice_bytes: int = 10 * 1024 * 1024
    max_file_bytes: int = 20 * 1024 * 1024


class BotSettings(_Section):
    enabled: bool = True
    rasa_url: str = "http://127.0.0.1:5005"
    timeout_seconds: float = 10.0


class OutboxSettings(_Section):
    poll_seconds: float = 1.0
    max_attempts: int = 12
    base_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 600.0
    batch_size: int = 50


class EmailSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 2525
    # The hotline's own addresses: mail to anything else is refused (no relaying).
    addresses: list[str] = Field(default_factory=lambda: ["12345@hotline.taian.gov.cn"])
    domain: str = "hotline.taian.gov.cn"
    max_message_bytes: int = 30 * 1024 * 1024
    relay_host: str = "127.0.0.1"
    relay_port: int = 2526
    max_auto_replies_per_hour: int = 5
    max_mails_per_sender_per_hour: int = 60
    # DKIM keys are looked up in DNS: this resolver ("host:port"; empty = the system's), this fast.
    dns_server: str = ""
    dns_timeout_seconds: float = 3.0
    tls_cert: str = ""  # STARTTLS is offered when a certificate and key are configured
    tls_key: str = ""

    @field_validator("addresses", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [a.strip() for a in value.split(",") if a.strip()] if isinstance(value, str) else value


class WechatAccountSettings(_Section):
    app_id: str
    token: SecretStr
    encoding_aes_key: SecretStr | None = None  # safe / compatible mode; plaintext mode without it
    app_secret: SecretStr


class WechatSettings(_Section):
    enabled: bool = True
    api_base: str = "https://api.weixin.qq.com"
    max_media_bytes: int = 20 * 1024 * 1024
    passive_wait_seconds: float = 4.0
    # Secrets: only from HOTLINE_WECHAT_ACCOUNTS, a JSON list of
    # {"app_id", "token", "encoding_aes_key", "app_secret"}; the settings file must leave it empty.
    accounts: list[WechatAccountSettings] = Field(default_factory=list)

    @field_validator("accounts", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        import json
        return json.loads(value) if isinstance(value, str) else value


class IvrSettings(_Section):
    enabled: bool = True
    agent_seat: str = "8001"          # where "转人工" transfers a caller
    public_base_url: str = ""         # the URL Twilio signs, when the gateway sits behind a proxy
    max_recording_bytes: int = 50 * 1024 * 1024
    # Call recordings are fetched only from these hosts (".example.com": the domain and its subdomains),
    # over https, and only when every address they resolve to is public (no SSRF into our network).
    recording_hosts: list[str] = Field(default_factory=lambda: ["api.twilio.com"])
    recording_require_https: bool = True
    recording_allow_private_addresses: bool = False  # only for loopback stand-ins in tests

    @field_validator("recording_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return [h.strip().lower() for h in value.split(",") if h.strip()] if isinstance(value, str) else value


class TelegramSettings(_Section):
    enabled: bool = True
    api_base: str = "https://api.telegram.org/bot"
    file_base: str = "https://api.telegram.org/file/bot"
    max_media_bytes: int = 20 * 1024 * 1024
    # secrets: HOTLINE_TELEGRAM_BOT_TOKEN, HOTLINE_TELEGRAM_WEBHOOK_PATH, HOTLINE_TELEGRAM_SECRET_TOKEN


class RoutingSettings(_Section):
    units: str = "config/units.yaml"
    holidays: str = "config/holidays.yaml"
    # The matter model (`hotline nlu train-dispatch`) and the proposal confidence from which a ticket is
    # dispatched without a supervisor (set on an independently written calibration set, docs/benchmarks.md).
    dispatch_model: str = "nlu/models/dispatch.npz"
    auto_dispatch_confidence: float = Field(0.65, gt=0, le=1)
    return_window_workdays: int = Field(1, ge=0)  # a unit may return a wrong dispatch this long after it
    max_returns: int = Field(2, ge=1)             # then a supervisor assigns the ticket (Art. 14(3))
    # Working days to handle a request, by request type (Art. 15); utility matters (Art. 18) are urgent.
    deadline_workdays: dict[str, int] = Field(default_factory=lambda: {
        "consultation": 3, "help": 5, "complaint": 10, "report": 15, "suggestion": 15})
    urgent_workdays: int = Field(1, ge=1)

    @field_validator("deadline_workdays")
    @classmethod
    def _every_type(cls, value: dict[str, int]) -> dict[str, int]:
        from gateway.store.schema import REQUEST_TYPES
        if set(value) != set(REQUEST_TYPES) or any(not isinstance(n, int) or n < 1 for n in value.values()):
            raise ValueError(f"give a positive number of working days for each of {list(REQUEST_TYPES)}")
        return value


class ClockSettings(_Section):
    # The hotline's local time: working days, deadlines and ticket numbers are counted in it.
    timezone: str = "Asia/Shanghai"
    # An ISO 8601 instant to start the clock at (demos, tests at a chosen hour); empty: real time.
    start_at: str = ""

    @field_validator("timezone")
    @classmethod
    def _known(cls, value: str) -> str:
        from routing.clock import Clock, ClockError
        try:
            Clock.create(value)
        except ClockError as exc:
            raise ValueError(str(exc)) from exc
        return value

    def clock(self) -> "Clock":
        from routing.clock import Clock
        return Clock.create(self.timezone, self.start_at)


class AbuseSettings(_Section):
    # Art. 11 and 32: how much one web page session and one client address may send. An emergency is
    # always let through.
    messages_per_minute_per_session: int = Field(20, ge=1)
    new_sessions_per_hour_per_address: int = Field(30, ge=1)
    # Any channel: more from one contact in ten minutes is stored but not answered or ticketed.
    messages_per_ten_minutes_per_contact: int = Field(60, ge=1)


class TriageSettings(_Section):
    gazetteer: str = "config/gazetteer.yaml"
    taxonomy: str = "config/taxonomy.csv"
    # Trained request-type and category model (`hotline nlu train`; provenance in nlu/models/PROVENANCE.md).
    model: str = "nlu/models/textcat.npz"
    # Short texts are triaged in a process of its own (gateway/triage_worker.py): the gateway's own process
    # is bound to one core by the GIL. False: triaged in the gateway's process.
    worker: bool = True


class KbSettings(_Section):
    """Knowledge-base search and when the bot answers from it (calibrated by benchmarks/kb_calibrate.py)."""

    synonyms: str = "config/kb/synonyms.yaml"
    # Answer directly when the ranking's certainty (nlu.kb_decision.certainty) and its lead over the next reach these.
    answer_confidence: float = Field(0.4, ge=0, le=1)
    answer_margin: float = Field(0.0, ge=0, le=1)
    # Below answering, ask 「您是想问」 with up to max_choices entries when the best reaches this.
    choose_confidence: float = Field(0.12, ge=0, le=1)
    choice_relative_score: float = Field(0.5, ge=0, le=1)
    choice_min_confidence: float = Field(0.12, ge=0, le=1)
    max_choices: int = Field(3, ge=1, le=5)
    # How long a 「您是想问」 waits for the citizen's 1/2/3.
    choice_minutes: int = Field(30, ge=1)

    @property
    def thresholds(self) -> "DecisionThresholds":
        from nlu.kb_decision import DecisionThresholds

        return DecisionThresholds(self.answer_confidence, self.answer_margin, self.choose_confidence,
                                  self.choice_relative_score, self.choice_min_confidence, self.max_choices)


class ClusterSettings(_Section):
    """Several gateways on one PostgreSQL (docs/architecture.md, "Replicas"). Empty `redis_url`: one
    process, everything in memory, no Redis needed."""

    # redis://host:port/db: events every replica must see (console, web chat, KB reloads, blocks) and the
    # abuse counters go through it. Checked at start: configured and unreachable is a start failure.
    redis_url: str = ""
    # Prefix of the pub/sub channel and the counters' keys: two hotlines (or test runs) may share one Redis.
    namespace: str = Field(default="hotline", pattern=r"^[A-Za-z0-9_.-]{1,40}$")
    # Names this replica in logs and /healthz (default: host name and process id).
    instance: str = ""
    # SIGTERM: requests in flight get this long to finish before the process stops (the balancer has
    # already been told by the closed socket and /healthz).
    shutdown_seconds: float = Field(default=20.0, ge=0)

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must be redis://host:port/db, rediss://... or unix://...")
        return value


class MediaReadingSettings(_Section):
    """Reading citizens' images and videos (OCR, EXIF position, video frames): gateway/media_reading.py."""

    enabled: bool = True
    # Worker processes (each holds the OCR models, ~300 MB): one per two cores leaves the rest for answering.
    workers: int = Field(1, ge=1, le=32)
    seconds_per_file: float = Field(60.0, gt=0)
    memory_bytes_per_worker: int = Field(3 * 1024 ** 3, ge=0)   # address-space limit; 0 = none
    max_pixels: int = Field(40_000_000, ge=1)
    video_frames: int = Field(3, ge=1, le=20)
    # How long a reply may wait for the reading before it goes without it (the rest follows when read),
    # per channel; a channel not named waits `default_wait_seconds`. WeChat's 5 s include the bot's turn; a mail is
    # answered inside its SMTP transaction.
    wait_seconds: dict[str, float] = Field(default_factory=lambda: {"wechat": 0.0, "ivr": 0.0, "email": 0.0})
    default_wait_seconds: float = Field(4.0, ge=0)
    districts: str = "config/districts.geojson"
    # Start the workers and load the models at start-up, so the first citizen's photo does not wait for them.
    warm_up: bool = True
    # The sweep reads files left pending (a restart, a stopped worker) once they are this old: longer than
    # any reply's wait, so it never takes a file from the turn that is reading it.
    sweep_after_seconds: float = Field(120.0, ge=0)


class AnalysisSettings(_Section):
    """Analysis and active governance (Art. 22-25): unit evaluation, hot topics, risk warnings."""

    enabled: bool = True                  # the background refresh, warnings and daily summary
    refresh_seconds: float = Field(60.0, gt=0)
    topics_minutes: float = Field(30.0, gt=0)  # how often hot topics and the outlook are recomputed
    accept_workdays: int = Field(1, ge=0)  # a unit accepts a dispatched ticket within this (accepted in time)
    # The composite score (0-100) of a unit: weights of its rates (routing/analysis/evaluation.py).
    score_weights: dict[str, float] = Field(default_factory=lambda: {
        "accepted_in_time": 0.15, "on_time": 0.3, "satisfaction": 0.3, "first_contact": 0.15, "not_returned": 0.1})
    min_received: int = Field(5, ge=1)     # fewer tickets in the period: listed, not ranked
    # Spikes: the last days against the district's own (seasonal) baseline; a warning below this probability.
    spike_window_days: int = Field(3, ge=1)
    spike_baseline_days: int = Field(28, ge=7)
    spike_alpha: float = Field(1e-4, gt=0, lt=1)
    spike_min_count: int = Field(8, ge=1)
    # A unit's dissatisfied or overdue share in the recent days against its own earlier share.
    unit_recent_days: int = Field(14, ge=1)
    unit_alpha: float = Field(1e-4, gt=0, lt=1)
    unit_min_hits: int = Field(8, ge=1)
    # Many citizens, one problem: a same-problem group this large within these days.
    group_min: int = Field(10, ge=2)
    group_days: int = Field(3, ge=1)
    # Hot topics: the window, the recent part of it, the clustering distance (cosine), the smallest group.
    topic_window_days: int = Field(28, ge=7)
    topic_recent_days: int = Field(7, ge=1)
    topic_distance: float = Field(0.8, gt=0, le=1)
    topic_min_size: int = Field(3, ge=2)
    new_topic_similarity: float = Field(0.35, gt=0, le=1)
    new_topic_min: int = Field(5, ge=2)
    daily_summary_hour: int = Field(8, ge=0, le=23)  # local hour the previous day's summary goes out

    @field_validator("score_weights")
    @classmethod
    def _known_rates(cls, value: dict[str, float]) -> dict[str, float]:
        known = {"accepted_in_time", "on_time", "satisfaction", "first_contact", "not_returned"}
        if not set(value) <= known or any(w < 0 for w in value.values()) or not any(value.values()):
            raise ValueError(f"weights are non-negative numbers for some of {sorted(known)}, not all zero")
        return value


class LoggingSettings(_Section):
    level: str = "INFO"
    # "text" for a terminal, "json" (one object per line) for a log collector.
    format: Literal["text", "json"] = "text"


class Secrets(BaseModel):
    """Values that only the environment may provide."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    api_token: SecretStr | None = None
    rasa_token: SecretStr | None = None  # Rasa's --auth-token, for its HTTP API (status, tracker events)
    ivr_secret: SecretStr | None = None  # HMAC key of the generic IVR webhook
    twilio_auth_token: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_webhook_path: SecretStr | None = None  # the secret path part of the webhook URL
    telegram_secret_token: SecretStr | None = None  # X-Telegram-Bot-Api-Secret-Token
    unit_tokens: SecretStr | None = None  # JSON {"unit id": "token"} for the handling units' API


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_dir: Path = PROJECT_ROOT
    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    media_reading: MediaReadingSettings = Field(default_factory=MediaReadingSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    wechat: WechatSettings = Field(default_factory=WechatSettings)
    ivr: IvrSettings = Field(default_factory=IvrSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    triage: TriageSettings = Field(default_factory=TriageSettings)
    kb: KbSettings = Field(default_factory=KbSettings)
    clock: ClockSettings = Field(default_factory=ClockSettings)
    abuse: AbuseSettings = Field(default_factory=AbuseSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    secrets: Secrets = Field(default_factory=Secrets)

    def path(self, value: str) -> Path:
        """Resolve a configured path against the project directory, not the cwd."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite file made absolute."""
        url = self.database.url
        for prefix in ("sqlite:///", "sqlite+aiosqlite:///", "sqlite+pysqlite:///"):
            if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
                return prefix + str(self.path(url[len(prefix):]))
        return url

    def replace(self, **sections: Mapping[str, Any]) -> "Settings":
        """A copy with some section fields replaced (tests and benchmarks use it)."""
        data = self.model_dump()
        for section, values in sections.items():
            if isinstance(data.get(section), dict):
                data[section] = {**data[section], **values}
            else:
                data[section] = values
        return Settings.model_validate(data)


_SECRET_ENV = {"HOTLINE_API_TOKEN": "api_token", "HOTLINE_RASA_TOKEN": "rasa_token",
               "HOTLINE_IVR_SECRET": "ivr_secret", "HOTLINE_TWILIO_AUTH_TOKEN": "twilio_auth_token",
               "HOTLINE_TELEGRAM_BOT_TOKEN": "telegram_bot_token",
               "HOTLINE_TELEGRAM_WEBHOOK_PATH": "telegram_webhook_path",
               "HOTLINE_TELEGRAM_SECRET_TOKEN": "telegram_secret_token",
               "HOTLINE_UNIT_TOKENS": "unit_tokens"}


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    sections: dict[str, dict[str, str]] = {}
    secrets: dict[str, str] = {}
    section_names = {name for name, f in Settings.model_fields.items() if name not in ("base_dir", "secrets")}
    for var, value in env.items():
        if not var.startswith("HOTLINE_") or var in _NON_SETTING_VARS or var.startswith(_NON_SETTING_PREFIXES):
            continue
        if var in _SECRET_ENV:
            secrets[_SECRET_ENV[var]] = value
            continue
        rest = var[len("HOTLINE_"):].lower()
        # The longest section name that fits: HOTLINE_MEDIA_READING_ENABLED is [media_reading], not [media].
        section = max((s for s in section_names if rest.startswith(s + "_")), key=len, default=None)
        if section is None:
            raise ConfigError(f"unknown setting in environment: {var}")
        key = rest[len(section) + 1:]
        model = Settings.model_fields[section].annotation
        if key not in getattr(model, "model_fields", {}):
            raise ConfigError(f"unknown setting in environment: {var}")
        sections.setdefault(section, {})[key] = value
    return sections, secrets


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Load the TOML file, apply environment overrides and validate everything at once."""
    env = os.environ if env is None else env
    path = path or Path(env.get("HOTLINE_CONFIG", DEFAULT_CONFIG))
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"settings file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    if "secrets" in data or data.get("wechat", {}).get("accounts"):
        raise ConfigError("secrets must come from the environment, not from the settings file "
                          "(WeChat accounts: HOTLINE_WECHAT_ACCOUNTS)")
    overrides, secrets = _env_overrides(env)
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    data["secrets"] = secrets
    data.setdefault("base_dir", str(path.resolve().parent.parent))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings ({path}): {exc}") from exc
