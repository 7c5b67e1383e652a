from __future__ import annotations

import logging

import pytest

from gateway.logs import PiiMaskingFilter
from nlu.pii import find, mask, mask_phone, normalize_phone


@pytest.mark.parametrize("text,secret", [
    ("我的电话是13812345678，请回电", "13812345678"),
    ("手机 +86 138-1234-5678", "138-1234-5678"),
    ("座机0538-8221234", "8221234"),
    ("身份证号370902199001011234", "370902199001011234"),
    ("身份证37090219900101123X", "37090219900101123X"),
    ("退款打到6222021234567890123这张卡", "6222021234567890123"),
    ("邮箱 zhang.san@example.com", "zhang.san@example.com"),
    ("我叫张三丰，住在这里", "张三丰"),
    ("我家住在泰山区东岳大街88号3号楼2单元501室，楼下很吵", "东岳大街88号"),
    # Typed on a phone's Chinese keyboard (full width), or grouped (review of issue 17).
    ("我的电话１３９１２３４５６７８", "１３９１２３４５６７８"),
    ("身份证370902 19900101 1234，请核实", "19900101"),
    ("邮箱ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ｚｈａｎｇ"),
])
def test_personal_information_is_masked(text: str, secret: str) -> None:
    masked = mask(text)
    assert secret not in masked and masked != text


def test_masked_forms_keep_what_agents_need() -> None:
    assert mask("电话13812345678") == "电话138****5678"
    assert mask_phone("13812345678") == "138****5678"
    assert [s.kind for s in find("我叫李四，电话13812345678")] == ["name", "phone"]


def test_full_width_numbers_are_masked_in_place() -> None:
    assert mask("电话１３９１２３４５６７８，谢谢") == "电话１３９****５６７８，谢谢"
    assert mask("身份证370902 19900101 1234") == "身份证370***********1234"


def test_ordinary_numbers_are_left_alone() -> None:
    text = "119号楼的路灯坏了3天，2026年11月26日反映过"
    assert mask(text) == text


def test_phone_normalisation() -> None:
    assert normalize_phone("+86 138 1234 5678") == "13812345678"
    assert normalize_phone("0538-8221234") == "05388221234"
    assert normalize_phone("12345") is None


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.pii")
    handler_filter = PiiMaskingFilter()
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.pii"):
            logger.info("citizen %s called from %s", "王五", "我叫王五，电话13912345678")
    finally:
        logger.removeFilter(handler_filter)
    assert "13912345678" not in caplog.text and "139****5678" in caplog.text
