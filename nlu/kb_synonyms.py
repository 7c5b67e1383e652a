"""Citizens' words mapped to the knowledge base's wording before search.

The list is data the hotline maintains (`config/kb/synonyms.yaml`): colloquial
forms (咋弄 → 怎么办), dialect (驾本 → 驾驶证), common misspellings that sound
alike are handled by pinyin terms in the index and need no entry here. Longer
forms are replaced first, so 社会保障卡 becomes 社保卡 before 保障 is looked at.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

# The list the seed KB was written against; the file, when present, replaces it.
BUILTIN: tuple[tuple[str, str], ...] = (
    ("咋整", "怎么办"), ("咋办", "怎么办"), ("咋弄", "怎么办"), ("咋样", "怎么样"), ("咋", "怎么"), ("啥", "什么"),
    ("怎样", "怎么"), ("如何", "怎么"), ("找不着", "丢了"), ("找不到", "丢了"), ("不见了", "丢了"), ("丢失", "丢了"),
    ("弄丢", "丢了"), ("被偷", "丢了"), ("补领", "补办"), ("重新办", "补办"), ("过期", "到期"), ("去哪儿", "去哪里"),
    ("在哪儿", "在哪里"), ("哪儿", "哪里"), ("社报卡", "社保卡"), ("社会保障卡", "社保卡"), ("医疗保险", "医保"),
    ("驾照", "驾驶证"), ("身份证件", "身份证"), ("户籍", "户口"), ("落户", "户口迁入"), ("小孩", "孩子"),
    ("娃", "孩子"), ("宝宝", "孩子"), ("老公", "配偶"), ("老婆", "配偶"), ("媳妇", "配偶"), ("工钱", "工资"),
    ("薪水", "工资"), ("欠薪", "拖欠工资"), ("暖气片", "暖气"), ("供热", "供暖"), ("煤气", "燃气"), ("天然气", "燃气"),
    ("电动车", "电动自行车"), ("电瓶车", "电动自行车"), ("上牌照", "上牌"), ("挂牌", "上牌"),
)


class SynonymFormatError(ValueError):
    pass


class Synonyms:
    def __init__(self, pairs: tuple[tuple[str, str], ...]) -> None:
        self.pairs = tuple(sorted(pairs, key=lambda p: -len(p[0])))
        self._to = dict(self.pairs)
        self._pattern = re.compile("|".join(re.escape(src) for src, _ in self.pairs)) if self.pairs else None

    @classmethod
    def builtin(cls) -> "Synonyms":
        return cls(BUILTIN)

    @classmethod
    def load(cls, path: Path) -> "Synonyms":
        """`canonical: [variant, ...]` mappings; a variant may appear under one canonical form only."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise SynonymFormatError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise SynonymFormatError(f"{path}: expected a mapping of canonical word to variants")
        pairs: dict[str, str] = {}
        for canonical, variants in data.items():
            if not isinstance(canonical, str) or not isinstance(variants, list):
                raise SynonymFormatError(f"{path}: {canonical!r} must map to a list of variants")
            for variant in variants:
                if not isinstance(variant, str) or not variant.strip():
                    raise SynonymFormatError(f"{path}: {canonical}: variants must be non-empty strings")
                if variant in pairs and pairs[variant] != canonical:
                    raise SynonymFormatError(f"{path}: {variant} is listed under {pairs[variant]} and {canonical}")
                pairs[variant.strip()] = canonical
        return cls(tuple(pairs.items()))

    def rewrite(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._to[m.group(0)], text)
