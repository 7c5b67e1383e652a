"""The `/api/v1` API described for the IVR vendors, handling units and city systems that integrate with it:
an OpenAPI 3.1 document at `/api/v1/openapi.json` and a readable page at `/api/v1/docs`.

The models are pydantic: the schemas are generated from them, and `tests/test_openapi.py` checks that
every `/api/v1` route is documented and that live responses validate against the document. The
tickets, progress, units, triage and hand-over handlers read their bodies through these models
(`parse_body`, after `channels/http_body` has bounded the JSON); the web channel's body is read in
its channel package (which never imports the gateway), and KB entries by the KB's own validator,
shared with the YAML import.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, ValidationError
from pydantic.json_schema import models_json_schema
from typing_extensions import Annotated

from gateway.errors import BadRequest

VERSION = "1.0.0"
_In = TypeVar("_In", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def parse_body(model: type[_In], body: dict[str, Any], codes: dict[str, tuple[str, str]],
               default: tuple[str, str] = ("bad_request", "请求内容不正确。")) -> _In:
    """A request body through its model; the first error becomes our 400 with the field's code (English)
    and message (Chinese), as clients already rely on them. `codes` by field, or by "field:error type"."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        code, message = codes.get(f"{field}:{first['type']}") or codes.get(field, default)
        raise BadRequest(f"{field or 'body'}: {first['msg']}", code=code, message_zh=message) from exc


# --- errors -------------------------------------------------------------------------------------

class ErrorDetail(_Model):
    code: str = Field(description="Stable English code for programs, e.g. `bad_token`, `invalid_transition`")
    message: str = Field(description="Simplified Chinese text for people")


class Error(_Model):
    error: ErrorDetail


# --- web chat -----------------------------------------------------------------------------------

class WebMessageIn(_Model):
    session: str = Field(min_length=8, max_length=64, description="The browser's session id")
    text: str = Field(max_length=5000)
    client_id: Optional[str] = Field(None, description="Idempotency key: a retry gets the same replies")


class Reply(_Model):
    text: str
    from_: str = Field(alias="from", description="bot | agent | system")
    buttons: Optional[list[dict[str, str]]] = Field(None, description="title + payload (payload is sent back as text)")
    ticket_number: Optional[str] = None
    emergency_lines: Optional[list[str]] = Field(None, description="110 / 119 / 120 / 122 to call now")
    id: Optional[int] = None


class WebMessagesOut(_Model):
    replies: list[Reply]
    pending: Optional[bool] = Field(None, description="More replies will arrive on the WebSocket")


class WebHistory(_Model):
    messages: list[dict[str, Any]]


# --- tickets ------------------------------------------------------------------------------------

RequestType = Literal["consultation", "help", "complaint", "report", "suggestion"]
Status = Literal["open", "dispatched", "in_progress", "resolved", "closed", "terminated"]


class TicketIn(_Model):
    description: Annotated[Text, StringConstraints(max_length=5000)]
    location: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]] = None
    request_type: Optional[RequestType] = Field(None, description="Filled in by triage when absent")
    category: Optional[str] = Field(None, description="Level-1 name of the taxonomy; triage when absent")
    district: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]] = None
    contact_name: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]] = None
    contact_phone: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]] = None
    anonymous: StrictBool = False
    conversation_id: Optional[StrictInt] = Field(None, description="The ticket then names the conversation's citizen")
    channel: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)]] = None
    source: Optional[Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)]] = None


class TicketEvent(_Model):
    at: str
    actor: str
    kind: str
    data: dict[str, Any]


class Ticket(_Model):
    id: int
    number: str = Field(description="YYYYMMDD-NNNNNN")
    status: Status
    channel: str
    source: str
    description: str
    request_type: Optional[str]
    category: Optional[str]
    district: Optional[str]
    location: Optional[str]
    contact_name: Optional[str]
    contact_phone: Optional[str]
    anonymous: bool
    utility: bool
    conversation_id: Optional[int]
    created_at: str
    updated_at: str
    unit_id: Optional[str]
    due_date: Optional[str]
    reported_position: Optional[dict[str, Any]] = Field(
        None, description="where the citizen's photo was taken (EXIF GPS): latitude, longitude, district, approximate")
    events: Optional[list[TicketEvent]] = None


class TicketList(_Model):
    items: list[Ticket]
    total: int
    page: int
    page_size: int


class ProgressIn(_Model):
    number: Annotated[Text, StringConstraints(max_length=32)]
    phone: Annotated[Text, StringConstraints(max_length=32)]


class PublicEvent(_Model):
    at: str
    kind: str
    text_zh: str


class Progress(_Model):
    number: str
    status: Status
    status_zh: str
    unit: Optional[str]
    due_date: Optional[str]
    created_at: str
    updated_at: str
    events: list[PublicEvent]


class UnitTicketList(_Model):
    unit: str
    total: int
    items: list[Ticket]


class UnitActionIn(_Model):
    text: Optional[Annotated[Text, StringConstraints(max_length=4000)]] = Field(
        None, description="Reason, progress or result (all but accept)")
    reason: Optional[Annotated[Text, StringConstraints(max_length=4000)]] = Field(None, description="= text")
    days: Optional[Annotated[StrictInt, Field(ge=1, le=30)]] = Field(None, description="extension only")
    material: Optional[Text] = Field(None, description="termination only (Art. 15(5)(6))")
    files: Optional[Annotated[list[StrictInt], Field(max_length=10)]] = Field(
        None, description="ids of files the unit uploaded to this ticket in the unit portal (result, progress, material)")


# --- triage, KB, conversations, health -----------------------------------------------------------

class TriageIn(_Model):
    text: Annotated[str, StringConstraints(max_length=20_000)]


class Triage(_Model):
    emergency: Optional[dict[str, Any]]
    disposition: str
    request_type: Optional[str]
    category: Optional[str]
    district: Optional[str]
    utility: bool
    carries_request: bool


class KbHit(_Model):
    id: str
    question: str
    answer: str
    score: float
    confidence: float = Field(ge=0, le=1)
    matched_question: str
    department: Optional[str]
    category: Optional[str]


class KbDecision(_Model):
    outcome: Literal["answer", "choose", "none"]
    text: str = Field(description="What to tell the citizen, worded for the channel")
    buttons: list[dict[str, str]]
    entries: list[str] = Field(description="The answer's entry, or the choices offered")


class KbSearch(_Model):
    results: list[KbHit]
    decision: KbDecision
    matched: bool


class KbEntryIn(_Model):
    id: Optional[str] = Field(None, description="Required on POST; the path gives it on PUT")
    question: str
    answer: str
    alternates: list[str] = []
    department: Optional[str] = None
    category: Optional[str] = None
    tags: list[str] = Field([], description="The first names what the entry is about (身份证, 公积金)")
    status: Literal["draft", "published", "archived"] = "published"
    valid_from: Optional[str] = None
    valid_to: Optional[str] = None
    reviewed_at: Optional[str] = None


class KbEntry(_Model):
    id: str
    question: str
    alternates: list[str]
    answer: str
    department: Optional[str]
    category: Optional[str]
    tags: list[str]
    status: str
    version: int
    valid_from: Optional[str]
    valid_to: Optional[str]
    reviewed_at: Optional[str]
    updated_at: Optional[str]


class KbEntryList(_Model):
    items: list[KbEntry]
    total: int


class KbPick(_Model):
    q: str
    expected: Optional[str] = Field(description="The entry picked, or null for 「都不是」")
    offered: list[str]
    channel: str
    at: str


class KbPicks(_Model):
    items: list[KbPick]
    total: int


class HandoffIn(_Model):
    reason: Literal["requested", "bot_stuck", "ticket_creation_failed"] = "requested"


class Handoff(_Model):
    conversation_id: int
    state: str


# --- the operations --------------------------------------------------------------------------------

Auth = Optional[Literal["api", "unit"]]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    summary: str
    tag: str
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    auth: Auth = None
    status: int = 200
    query: tuple[tuple[str, str, bool], ...] = ()  # name, description, required
    errors: tuple[int, ...] = field(default=(400,))


OPERATIONS: tuple[Op, ...] = (
    Op("POST", "/api/v1/web/messages", "A citizen's message from the web chat (multipart with a file also accepted)",
       "web", WebMessagesOut, WebMessageIn, errors=(400, 413, 415, 429)),
    Op("GET", "/api/v1/web/history", "The session's messages, oldest first", "web", WebHistory,
       query=(("session", "the session id", True),)),
    Op("POST", "/api/v1/tickets", "Open a ticket (the bot's form, city systems)", "tickets", Ticket, TicketIn,
       auth="api", status=201, errors=(400, 401)),
    Op("GET", "/api/v1/tickets", "List tickets", "tickets", TicketList, auth="api", errors=(400, 401),
       query=(("status", "filter", False), ("channel", "filter", False), ("category", "filter", False),
              ("district", "filter", False), ("request_type", "filter", False),
              ("created_from", "YYYY-MM-DD", False), ("created_to", "YYYY-MM-DD", False),
              ("phone", "filter", False), ("page", "1-based", False), ("page_size", "1-200", False))),
    Op("POST", "/api/v1/tickets/progress", "A citizen's progress query: number + the phone given", "tickets",
       Progress, ProgressIn, errors=(400, 404, 429)),
    Op("GET", "/api/v1/tickets/{number}", "One ticket with its events", "tickets", Ticket, auth="api",
       errors=(401, 404)),
    Op("GET", "/api/v1/unit/tickets", "The unit's tickets (its own token)", "units", UnitTicketList, auth="unit",
       errors=(401,), query=(("status", "filter", False),)),
    Op("POST", "/api/v1/unit/tickets/{number}/{action}",
       "accept | return | progress | result | extension | termination (Art. 15)", "units", Ticket, UnitActionIn,
       auth="unit", errors=(400, 401, 404, 409)),
    Op("POST", "/api/v1/triage", "Emergency screening, request type, category, district of a text", "triage",
       Triage, TriageIn, auth="api", errors=(400, 401)),
    Op("GET", "/api/v1/kb/search", "Rank KB entries and say what the bot would do (answer / choose / none)", "kb",
       KbSearch, errors=(400,), query=(("q", "the question", True), ("k", "1-20, default 5", False),
                                       ("channel", "web | wechat | email | ivr | telegram | console", False))),
    Op("GET", "/api/v1/kb/entries", "All entries", "kb", KbEntryList, auth="api", errors=(401,),
       query=(("status", "draft | published | archived", False),)),
    Op("POST", "/api/v1/kb/entries", "Create an entry", "kb", KbEntry, KbEntryIn, auth="api", status=201,
       errors=(400, 401)),
    Op("GET", "/api/v1/kb/entries/{key}", "One entry with its versions", "kb", KbEntry, auth="api",
       errors=(401, 404)),
    Op("PUT", "/api/v1/kb/entries/{key}", "Edit an entry (a text change appends a version)", "kb", KbEntry,
       KbEntryIn, auth="api", errors=(400, 401, 404)),
    Op("GET", "/api/v1/kb/choices", "Citizens' picks after 「您是想问」: labelled data for calibration", "kb",
       KbPicks, auth="api", errors=(401,)),
    Op("POST", "/api/v1/conversations/{conversation_id}/handoff", "Put a conversation in the agents' queue",
       "conversations", Handoff, HandoffIn, auth="api", errors=(401, 404)),
)

# Not JSON operations: the live socket and media files (described in the page's text).
UNDOCUMENTED = ("/api/v1/web/ws", "/api/v1/web/media/{attachment_id}", "/api/v1/openapi.json", "/api/v1/docs")


def document() -> dict[str, Any]:
    models = {m for op in OPERATIONS for m in (op.request, op.response) if m is not None} | {Error}
    _, defs = models_json_schema([(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
                                 ref_template="#/components/schemas/{model}", by_alias=True)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                  for name in _path_params(op.path)]
        params += [{"name": name, "in": "query", "required": required, "description": text,
                    "schema": {"type": "string"}} for name, text, required in op.query]
        entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], "operationId": _op_id(op),
                                 "responses": {str(op.status): {"description": "OK", "content": {
                                     "application/json": {"schema": _ref(op.response)}}}}}
        for code in op.errors:
            entry["responses"][str(code)] = {"description": "Error", "content": {
                "application/json": {"schema": _ref(Error)}}}
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(op.request)}}}
        if op.auth:
            entry["security"] = [{"apiToken": []}] if op.auth == "api" else [{"unitToken": []}]
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "12345 hotline intake gateway", "version": VERSION,
                 "description": "Errors are `{\"error\": {\"code\": ..., \"message\": ...}}` with an English code "
                                "and a Chinese message. Every response carries `X-Request-Id`."},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": {
            "apiToken": {"type": "http", "scheme": "bearer", "description": "HOTLINE_API_TOKEN"},
            "unitToken": {"type": "http", "scheme": "bearer", "description": "a handling unit's token"}}},
    }


def _ref(model: type[BaseModel] | None) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{model.__name__}"} if model is not None else {}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def _op_id(op: Op) -> str:
    words = [p for p in op.path.removeprefix("/api/v1/").replace("{", "").replace("}", "").split("/") if p]
    return op.method.lower() + "_" + "_".join(words)


class OpenApi:
    def __init__(self) -> None:
        self._doc = document()
        self._json = json.dumps(self._doc, ensure_ascii=False, indent=1)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.get("/api/v1/openapi.json", self.spec), web.get("/api/v1/docs", self.page)]

    async def spec(self, request: web.Request) -> web.Response:
        return web.Response(text=self._json, content_type="application/json")

    async def page(self, request: web.Request) -> web.Response:
        """A page without scripts or outside assets: every operation, its auth, parameters and schemas."""
        rows = []
        schemas = self._doc["components"]["schemas"]
        for path, methods in self._doc["paths"].items():
            for method, op in methods.items():
                auth = {"apiToken": "API token", "unitToken": "unit token"}.get(
                    next(iter(op.get("security", [{}])[0]), ""), "none")
                params = ", ".join(f"{p['name']} ({p['in']}{', required' if p['required'] else ''})"
                                   for p in op.get("parameters", []))
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
                ok = next(iter(op["responses"]))
                out = op["responses"][ok]["content"]["application/json"]["schema"]
                rows.append(
                    f"<section><h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                    f"<p>{html.escape(op['summary'])}</p><p>Auth: {auth}. Parameters: {html.escape(params) or '–'}."
                    f" Errors: {', '.join(c for c in op['responses'] if c != ok)}.</p>"
                    + (_schema_html("Request", body, schemas) if body else "")
                    + _schema_html(f"Response {ok}", out, schemas) + "</section>")
        page = (f"<!doctype html><html lang='en'><meta charset='utf-8'><title>12345 hotline API</title>"
                f"<style>body{{font:14px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em}}"
                f"section{{border-top:1px solid #ddd;padding:.5em 0}}pre{{background:#f6f8fa;padding:.5em;"
                f"overflow:auto}}h2{{font-size:16px}}</style><h1>12345 hotline API {VERSION}</h1>"
                f"<p>Machine-readable: <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a> (OpenAPI 3.1). "
                f"Also: <code>GET /api/v1/web/ws?session=…</code> (live replies, WebSocket) and "
                f"<code>GET /api/v1/web/media/{{id}}?session=…</code> (attachments).</p>{''.join(rows)}</html>")
        return web.Response(text=page, content_type="text/html",
                            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})


def _schema_html(title: str, schema: dict[str, Any], schemas: dict[str, Any]) -> str:
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    body = json.dumps(schemas.get(name, schema), ensure_ascii=False, indent=1)
    return f"<details><summary>{title}: {html.escape(name)}</summary><pre>{html.escape(body)}</pre></details>"
