"""A database error carries no citizen's words (Art. 28): its text reaches logs (a 500's traceback, a
warning), so the statement's parameters are never in it — on SQLAlchemy's path and the prepared one."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from gateway.store.database import open_database
from gateway.store.prepared import Prepared

SECRET = "我叫张三电话13912345678住泰山区东岳大街88号"

_meta = sa.MetaData()
_notes = sa.Table("privacy_probe", _meta, sa.Column("id", sa.Integer, primary_key=True),
                  sa.Column("text", sa.String, unique=True))
_PREPARED_INSERT = Prepared(_notes.insert())


def _urls(tmp_path) -> list[str]:
    urls = [f"sqlite:///{tmp_path}/privacy.db"]
    if os.environ.get("HOTLINE_TEST_PG_URL"):
        urls.append(os.environ["HOTLINE_TEST_PG_URL"])
    return urls


@pytest.mark.parametrize("prepared", [False, True])
async def test_a_failed_statement_does_not_tell_its_parameters(tmp_path, prepared: bool) -> None:
    for url in _urls(tmp_path):
        db = open_database(url)
        try:
            await db.run(lambda conn: _meta.drop_all(conn, tables=[_notes]))
            await db.run(lambda conn: _meta.create_all(conn, tables=[_notes]))

            def insert(conn) -> None:
                if prepared:
                    _PREPARED_INSERT(conn, {"text": SECRET})
                else:
                    conn.execute(_notes.insert(), {"text": SECRET})

            await db.run(insert)
            with pytest.raises(IntegrityError) as failed:
                await db.run(insert)  # the same text again: the unique constraint
            told = str(failed.value)
            assert "13912345678" not in told and "张三" not in told, (url, told)
            assert "privacy_probe" in told  # the statement is still there to debug with
        finally:
            await db.run(lambda conn: _meta.drop_all(conn, tables=[_notes]))
            await db.dispose()
