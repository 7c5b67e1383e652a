"""Knowledge-base entries, and reading them from the YAML format of `config/kb/seed_kb.yaml`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class KbEntry:
    key: str
    question: str
    answer: str
    alternates: tuple[str, ...] = ()
    department: str | None = None
    category: str | None = None
    tags: tuple[str, ...] = ()
    status: str = "published"
    valid_from: date | None = None
    valid_to: date | None = None
    reviewed_at: date | None = None
    version: int = 0
    updated_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.key, "question": self.question, "alternates": list(self.alternates), "answer": self.answer,
            "department": self.department, "category": self.category, "tags": list(self.tags),
            "status": self.status, "version": self.version,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }

    def servable(self, today: date) -> bool:
        return (self.status == "published" and (self.valid_from is None or self.valid_from <= today)
                and (self.valid_to is None or today <= self.valid_to))




class KbFormatError(ValueError):
    pass


def _date(value: Any, field: str, key: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise KbFormatError(f"{key}: {field} is not a date: {value!r}") from exc


def entry_from_mapping(item: dict[str, Any]) -> KbEntry:
    key = item.get("id")
    if not isinstance(key, str) or not key.strip():
        raise KbFormatError(f"entry without an id: {str(item)[:80]}")
    for field in ("question", "answer"):
        if not isinstance(item.get(field), str) or not item[field].strip():
            raise KbFormatError(f"{key}: {field} is missing")
    alternates = item.get("alternates") or []
    tags = item.get("tags") or []
    if not isinstance(alternates, list) or not all(isinstance(a, str) for a in alternates):
        raise KbFormatError(f"{key}: alternates must be a list of strings")
    status = item.get("status", "published")
    if status not in ("draft", "published", "archived"):
        raise KbFormatError(f"{key}: status must be draft, published or archived")
    return KbEntry(
        key=key.strip(), question=item["question"].strip(), answer=item["answer"].strip(),
        alternates=tuple(a.strip() for a in alternates if a.strip()),
        department=item.get("department"), category=item.get("category"),
        tags=tuple(str(t) for t in tags), status=status,
        valid_from=_date(item.get("valid_from"), "valid_from", key),
        valid_to=_date(item.get("valid_to"), "valid_to", key),
        reviewed_at=_date(item.get("reviewed_at"), "reviewed_at", key))


def load_entries(path: Path) -> list[KbEntry]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise KbFormatError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, list):
        raise KbFormatError(f"{path}: expected a list of entries")
    entries = [entry_from_mapping(item) for item in data]
    keys = [e.key for e in entries]
    if len(set(keys)) != len(keys):
        raise KbFormatError(f"{path}: duplicate ids")
    return entries
