"""Where a text is: Tai'an's county-level area it names, or a place outside Tai'an.

Longest names win, so "泰山区" beats "泰山" and "莱芜区" maps to 济南.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class PlaceHit:
    name: str
    district: str | None  # county-level area of Tai'an, None when outside
    elsewhere: str | None  # the outside city/region named, None when inside
    zone: str | None = None


class Gazetteer:
    def __init__(self, data: dict[str, Any]) -> None:
        self._index: dict[str, PlaceHit] = {}
        for district, entry in data["taian"].items():
            for name in [district, *entry.get("aliases", []), *entry.get("places", [])]:
                self._index[name] = PlaceHit(name, district, None)
        for zone, entry in data.get("zones", {}).items():
            for name in [zone, *entry.get("aliases", [])]:
                self._index[name] = PlaceHit(name, entry["district"], None, zone)
        self.city_names: tuple[str, ...] = tuple(data.get("city_names", []))
        for region, names in data.get("elsewhere", {}).items():
            for name in [region, *names]:
                self._index.setdefault(name, PlaceHit(name, None, region))
        names = sorted(self._index, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, names)))
        self._city = re.compile("|".join(map(re.escape, self.city_names))) if self.city_names else None

    @classmethod
    def load(cls, path: Path) -> "Gazetteer":
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")))

    def names(self) -> list[str]:
        return list(self._index)

    def find(self, text: str) -> list[PlaceHit]:
        return [self._index[m.group(0)] for m in self._pattern.finditer(text)]

    def find_spans(self, text: str) -> list[tuple[PlaceHit, int, int]]:
        return [(self._index[m.group(0)], m.start(), m.end()) for m in self._pattern.finditer(text)]

    def without_places(self, text: str) -> str:
        """The text with every known place name blanked: what a matter reads like wherever it happens."""
        return self._pattern.sub(" ", text)

    def names_taian(self, text: str) -> bool:
        return bool(self._city and self._city.search(text))
