"""Text in an image: PP-OCRv4 (detection, direction, recognition) through `rapidocr-onnxruntime`.

Chosen against Debian's Tesseract 5 `chi_sim` on the project's rendered set (docs/benchmarks.md): the
ONNX models ship inside the wheel (nothing is downloaded at run time), read Chinese notices far better and
take one to two seconds an image on two cores. One engine per worker process, loaded on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

# Lines read with less confidence than this are kept out of the text (they are mostly noise).
MIN_LINE_CONFIDENCE = 0.5


@dataclass(frozen=True, slots=True)
class OcrLine:
    text: str
    confidence: float
    top: float
    left: float


@dataclass(frozen=True, slots=True)
class OcrText:
    lines: tuple[OcrLine, ...] = field(default_factory=tuple)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float:
        """Mean line confidence weighted by length: what share of the characters the engine is sure of."""
        total = sum(len(line.text) for line in self.lines)
        if not total:
            return 0.0
        return sum(line.confidence * len(line.text) for line in self.lines) / total


class OcrEngine:
    """PP-OCRv4 for one process (the models take ~0.8 s to load, so they stay loaded)."""

    def __init__(self) -> None:
        self._engine: Any = None

    def read(self, img: Image.Image) -> OcrText:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR  # heavy: only in the worker processes
            self._engine = RapidOCR()
        found, _elapsed = self._engine(np.asarray(img.convert("RGB"))[:, :, ::-1])  # the engine expects BGR
        lines = []
        for box, text, score in found or ():
            text = str(text).strip()
            if text and float(score) >= MIN_LINE_CONFIDENCE:
                lines.append(OcrLine(text, float(score), float(min(p[1] for p in box)), float(min(p[0] for p in box))))
        return OcrText(tuple(_reading_order(lines)))


def _reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top to bottom, and left to right within a row (boxes whose tops are within half a line)."""
    lines = sorted(lines, key=lambda ln: ln.top)
    rows: list[list[OcrLine]] = []
    for line in lines:
        if rows and abs(rows[-1][0].top - line.top) < 12:
            rows[-1].append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda ln: ln.left)]
