"""The handling units (承办单位) catalogue, read from `config/units.yaml`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

KINDS = ("county", "department", "utility")


class UnitsError(ValueError):
    pass


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str
    districts: frozenset[str] | None  # None: the whole city
    categories: frozenset[str]
    keywords: tuple[str, ...]
    contact: str

    def serves(self, district: str | None) -> bool:
        return self.districts is None or (district is not None and district in self.districts)

    def keyword_hits(self, text: str) -> list[str]:
        return [k for k in self.keywords if k in text]


def load_units(path: Path, categories: frozenset[str] | None = None) -> dict[str, Unit]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise UnitsError(f"{path}: expected a list of units")
    units: dict[str, Unit] = {}
    for item in data:
        uid = item.get("id")
        if not isinstance(uid, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", uid) or uid in units:
            raise UnitsError(f"{path}: bad or duplicate unit id {uid!r}")
        if item.get("kind") not in KINDS:
            raise UnitsError(f"{path}: {uid}: kind must be one of {KINDS}")
        cats = frozenset(item.get("categories") or ())
        if categories is not None and not cats <= categories:
            raise UnitsError(f"{path}: {uid}: categories not in the taxonomy: {sorted(cats - categories)}")
        districts = item.get("districts")
        units[uid] = Unit(uid, str(item["name"]), item["kind"],
                          None if districts in (None, "all") else frozenset(districts), cats,
                          tuple(str(k) for k in item.get("keywords") or ()), str(item.get("contact", "")))
    return units
