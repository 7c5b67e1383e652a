"""The trained request-type and category model: shipped, loaded once, deterministic to retrain."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gateway.settings import PROJECT_ROOT, load_settings
from nlu.corpus import in_dev
from nlu.textcat import TextModel, prepare
from nlu.train import train
from nlu.triage import Triager



def _small_boards(tmp: Path) -> Path:
    """A slice of the project's own labelled texts dressed as the boards' files (the real boards
    stay outside the repository; the slice keeps this test fast)."""
    rows = [json.loads(line) for line in (PROJECT_ROOT / "tests" / "data" / "types_holdout_a.jsonl")
            .read_text(encoding="utf-8").splitlines()]
    board = {"complaint": "投诉/求助", "help": "投诉/求助", "report": "投诉/求助", "consultation": "咨询",
             "suggestion": "建言"}
    (tmp / "tipdm_raw.jsonl").write_text("".join(json.dumps(
        {"id": f"t{i}", "title": r["text"][:10], "text": r["text"], "category": r["category"]}, ensure_ascii=False) + "\n"
        for i, r in enumerate(rows[:60])), encoding="utf-8")
    (tmp / "tipdm_segmented.jsonl").write_text("", encoding="utf-8")
    (tmp / "zhejiang_board.jsonl").write_text("".join(json.dumps(
        {"id": f"z{i}", "title": "", "text": r["text"], "type": board[r["request_type"]], "domain": "城建"},
        ensure_ascii=False) + "\n" for i, r in enumerate(rows[60:])), encoding="utf-8")
    return tmp


def test_training_is_deterministic_and_the_model_loads(tmp_path: Path) -> None:
    data = _small_boards(tmp_path)
    taxonomy = PROJECT_ROOT / "config" / "taxonomy.csv"
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    train(data, [], taxonomy, first, log=lambda _: None)
    train(data, [], taxonomy, second, log=lambda _: None)
    a, b = np.load(first), np.load(second)
    for key in ("category_coef", "coarse_type_coef", "idf"):
        assert np.array_equal(a[key], b[key]), key
    model = TextModel.load(first)
    assert set(model.heads["coarse_type"].labels) == {"grievance", "consultation", "suggestion"}
    assert model.predict("coarse_type", "请问社保卡怎么补办").label in model.heads["coarse_type"].labels


def test_the_dev_split_is_stable_and_about_a_fifth() -> None:
    keys = [f"zhejiang:{i}" for i in range(2000)]
    share = sum(in_dev(k) for k in keys) / len(keys)
    assert 0.17 < share < 0.23 and [in_dev(k) for k in keys] == [in_dev(k) for k in keys]


def test_long_texts_are_read_at_both_ends() -> None:
    text = "物业" * 3000 + "最后一句是重点"
    assert prepare(text).endswith("最后一句是重点") and len(prepare(text)) < 2100


def test_every_non_emergency_text_gets_a_request_type_and_a_category() -> None:
    triager = Triager.from_settings(load_settings(PROJECT_ROOT / "config" / "hotline.toml", env={}))
    for text in ("莱芜区的一个小区物业乱收费", "讲个笑话吧", "杭州西湖边的停车场乱收费", "我已经向法院起诉了，对方不执行",
                 "请问办理居住证需要什么材料"):
        result = triager.analyze(text)
        assert result.emergency is None
        assert result.request_type in {"complaint", "help", "report", "consultation", "suggestion"}, text
        assert result.category in triager.categories, text


def test_inference_gives_the_probabilities_training_saw(tmp_path: Path) -> None:
    """Our numpy inference must agree with scikit-learn's predict_proba, two labels included."""
    from nlu.train import HEADS, _fit, _matrix, _build_vocab
    texts = ["楼道里着火了快来人", "路灯坏了好几天", "有人倒在地上不动了", "请问社保卡怎么办", "车撞了人在流血",
             "小区垃圾没人清"]
    labels = ["yes", "no", "yes", "no", "yes", "no"]
    vocab, idf = _build_vocab(texts * 2)
    x = _matrix(texts, vocab, idf, [{}] * len(texts), [])
    model = _fit(x, labels, 4.0)
    out = tmp_path / "m.npz"
    meta = {"heads": {"emergency": {"labels": ["no", "yes"], "extra": []}}}
    np.savez(out, vocab=np.asarray(json.dumps(vocab, ensure_ascii=False)), meta=np.asarray(json.dumps(meta)),
             idf=idf, emergency_coef=np.hstack([np.zeros_like(model.coef_.T), model.coef_.T]),
             emergency_intercept=np.asarray([0.0, model.intercept_[0]]))
    loaded = TextModel.load(out)
    for text, expected in zip(texts, model.predict_proba(x)[:, 1]):
        assert abs(loaded.predict("emergency", text).scores["yes"] - expected) < 1e-4
    assert HEADS["emergency"][0]  # the head exists in training
