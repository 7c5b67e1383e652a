"""Which district a photo's GPS position lies in, from boundary polygons (GeoJSON) the city provides.

The polygons shipped in config/districts.geojson are coarse outlines drawn around Tai'an's districts and
counties (`"approximate": true`): good enough to suggest a district for dispatch, marked as an estimate
wherever shown, and meant to be replaced by the surveying bureau's boundaries. Features are tried in file
order, so a district enclosed by another (泰山区 within 岱岳区) comes first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class BoundaryFileError(Exception):
    """The boundaries file is missing or not the GeoJSON we read."""


@dataclass(frozen=True, slots=True)
class District:
    name: str
    rings: tuple[tuple[tuple[float, float], ...], ...]   # outer rings (lon, lat), one per polygon part
    approximate: bool


class DistrictMap:
    def __init__(self, districts: list[District]) -> None:
        self._districts = districts

    @classmethod
    def load(cls, path: Path) -> "DistrictMap":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            return cls([_district(f) for f in doc["features"]])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BoundaryFileError(f"{path}: {exc}") from exc

    def locate(self, latitude: float, longitude: float) -> dict[str, Any]:
        """The position as stored on a message and a ticket: with `district` when a boundary holds it."""
        found: dict[str, Any] = {"latitude": round(latitude, 6), "longitude": round(longitude, 6)}
        for d in self._districts:
            if any(_inside(longitude, latitude, ring) for ring in d.rings):
                found["district"] = d.name
                found["approximate"] = d.approximate
                break
        return found


def _district(feature: dict[str, Any]) -> District:
    geometry = feature["geometry"]
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    rings = tuple(tuple((float(x), float(y)) for x, y, *_ in polygon[0]) for polygon in polygons)
    props = feature.get("properties") or {}
    return District(str(props["name"]), rings, bool(props.get("approximate", False)))


def _inside(x: float, y: float, ring: tuple[tuple[float, float], ...]) -> bool:
    """Even-odd ray casting: a point on a boundary may fall either way, which is fine for a district."""
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside
