"""The labelled texts the request-type and category models learn from, and the dev split kept apart.

Sources (provenance in nlu/models/PROVENANCE.md):
- the real boards in `../shared/data/train/` (TipDM: level-1 category; Zhejiang: request type as the
  board merges it — 投诉/求助, 咨询, 建言 — and its own domains, mapped to our categories below);
- the project's own labelled texts in `tests/data/` (all five request types, all categories).

The boards are read at training and benchmark time only; nothing of them is shipped but the trained
weights. The dev split is decided by a hash of a stable key, so it never changes between runs and
is never trained on. TipDM's raw rows repeat rows of its segmented copy: a raw row and its
near-copies form one group, and a group is wholly in train or wholly in dev.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from nlu.text import normalize

DEV_PERCENT = 20

# The Zhejiang board's domains, as our level-1 categories (config/taxonomy.csv).
ZHEJIANG_DOMAINS = {
    "城建": "城乡建设", "交通": "交通运输", "环保": "环境保护", "治安": "政法", "政务": "党务政务",
    "企业": "经济管理", "教育": "教育文体", "医疗": "卫生计生", "文娱": "教育文体", "三农": "农村农业",
    "就业": "劳动和社会保障", "旅游": "商贸旅游",
}
# The board's request types: it does not separate complaints, reports and requests for help.
BOARD_TYPES = {"投诉/求助": "grievance", "咨询": "consultation", "建言": "suggestion"}
# Our five request types, coarsened to the boards' three.
COARSE_TYPE = {"complaint": "grievance", "help": "grievance", "report": "grievance",
               "consultation": "consultation", "suggestion": "suggestion"}


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    source: str
    key: str                       # stable identity: decides the split
    category: str | None = None
    coarse_type: str | None = None  # grievance / consultation / suggestion
    request_type: str | None = None  # our five types, where known
    emergency: str | None = None     # "yes" / "no" where known (the boards are ordinary requests: "no")
    line: str | None = None          # the line an emergency needs (110 / 119 / 120 / 122)


def in_dev(key: str) -> bool:
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) % 100 < DEV_PERCENT


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _trigrams(text: str) -> set[str]:
    t = "".join(ch for ch in normalize(text) if "\u4e00" <= ch <= "\u9fff")
    return {t[i:i + 3] for i in range(len(t) - 2)}


def _tipdm_groups(raw: list[dict], segmented: list[dict]) -> list[str]:
    """For each segmented row, the raw row it copies (its group key), found by shared character
    trigrams (stop words were removed from the segmented copy, so exact matching misses)."""
    index: dict[str, list[int]] = defaultdict(list)
    raw_grams = [_trigrams(r["title"] + r["text"]) for r in raw]
    for i, grams in enumerate(raw_grams):
        for g in grams:
            index[g].append(i)
    keys = []
    for n, row in enumerate(segmented):
        grams = _trigrams(row["words"].replace(" ", ""))
        votes: Counter[int] = Counter()
        for g in grams:
            post = index.get(g)
            if post is not None and len(post) <= 50:
                votes.update(post)
        best = votes.most_common(1)
        if best and grams and best[0][1] >= 0.5 * len(grams):
            keys.append(f"tipdm:{raw[best[0][0]]['id']}")
        else:
            keys.append(f"tipdm-seg:{n}")
    return keys


def board_examples(train_dir: Path) -> list[Example]:
    """Every labelled text of the real boards."""
    raw = list(_jsonl(train_dir / "tipdm_raw.jsonl"))
    segmented = list(_jsonl(train_dir / "tipdm_segmented.jsonl"))
    out = [Example(f"{r['title']}。{r['text']}", "tipdm_raw", f"tipdm:{r['id']}", category=r["category"],
                   emergency="no") for r in raw]
    for row, key in zip(segmented, _tipdm_groups(raw, segmented)):
        out.append(Example(row["words"].replace(" ", ""), "tipdm_segmented", key, category=row["category"],
                           emergency="no"))
    for r in _jsonl(train_dir / "zhejiang_board.jsonl"):
        out.append(Example(f"{r['title']}。{r['text']}", "zhejiang", f"zhejiang:{r['id']}",
                           category=ZHEJIANG_DOMAINS.get(r["domain"]), coarse_type=BOARD_TYPES[r["type"]],
                           emergency="no"))
    return out


def own_examples(paths: Iterable[Path]) -> list[Example]:
    """The project's labelled texts (tests/data): non-emergency rows with a request type or category."""
    out = []
    for path in paths:
        for n, r in enumerate(_jsonl(path)):
            key = f"{path.stem}:{r['text']}"
            if r.get("emergency") or r.get("disposition") == "emergency":
                # triage.jsonl lists the lines (first = the one to call); holdouts name one line.
                lines = r["emergency"] if isinstance(r.get("emergency"), list) else [r.get("line")]
                out.append(Example(r["text"], f"own:{path.stem}", key, emergency="yes", line=lines[0]))
                continue
            rtype, cat = r.get("request_type"), r.get("category")
            out.append(Example(r["text"], f"own:{path.stem}", key, category=cat,
                               coarse_type=COARSE_TYPE.get(rtype) if rtype else None, request_type=rtype,
                               emergency="no"))
    return out


def split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    train = [e for e in examples if not in_dev(e.key)]
    dev = [e for e in examples if in_dev(e.key)]
    return train, dev
