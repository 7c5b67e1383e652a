"""`hotline`: serve, migrate, triage from the command line."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from gateway import logs
from gateway.errors import ServiceError
from gateway.settings import Settings, load_settings

if TYPE_CHECKING:
    from gateway.store import Store

log = logging.getLogger("hotline")


def _serve(settings: Settings) -> int:
    import uvloop

    from gateway.app import create_app
    from gateway.cluster import SingleServeLock, sqlite_file

    # SQLite: one gateway per database file (a second is refused with the reason); PostgreSQL: any number.
    database_file = sqlite_file(settings.database_url)
    lock = SingleServeLock(database_file) if database_file is not None else None
    if lock is not None:
        lock.acquire()
    try:
        # uvloop's event loop handles the same traffic with noticeably less CPU (docs/benchmarks.md).
        # SIGTERM: the listening socket closes (the balancer sends new requests elsewhere), requests in flight
        # get `shutdown_seconds` to finish, then the cleanup contexts stop the outbox (releasing its leases).
        app = create_app(settings)
        app.on_startup.append(_freeze_loaded_objects)  # after every cleanup context has started
        web.run_app(app, host=settings.server.host, port=settings.server.port,
                    access_log=None, print=lambda s: log.info("%s", s.strip()), loop=uvloop.new_event_loop(),
                    shutdown_timeout=settings.cluster.shutdown_seconds)
    finally:
        if lock is not None:
            lock.release()
    return 0


async def _freeze_loaded_objects(_app: web.Application) -> None:
    """The models, dictionaries and gazetteer loaded at start are ~450,000 objects the cycle collector
    would otherwise walk on every full collection (~350 ms on the 2-core machine: a pause every request in
    flight waits for, the ingest benchmark's p99). They live as long as the process: take them out of its
    view once they are loaded."""
    gc.collect()
    gc.freeze()
    log.info("startup objects frozen for the garbage collector: %d", gc.get_freeze_count())


def _db_upgrade(settings: Settings) -> int:
    from gateway.store import open_store

    async def run() -> None:
        store = await open_store(settings.database_url, auto_migrate=True, clock=settings.clock.clock())
        await store.db.dispose()

    asyncio.run(run())
    print("database schema is up to date")
    return 0


def _kb_choices_export(settings: Settings, path: Path) -> int:
    """Rows {"q", "expected"} for benchmarks/kb_calibrate.py. They hold citizens' own words: the file is
    personal information (Art. 28) and stays with the hotline's operators."""
    from gateway.store import open_store

    async def run() -> list[dict[str, object]]:
        store = await open_store(settings.database_url, auto_migrate=settings.database.auto_migrate,
                                 clock=settings.clock.clock())
        try:
            return await store.kb_choices.labelled()
        finally:
            await store.db.dispose()

    rows = asyncio.run(run())
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} picks written to {path}")
    return 0


def _kb_import(settings: Settings, path: Path, only_if_empty: bool) -> int:
    """Create or update entries from a YAML file; unchanged entries are left alone (no new version)."""
    from gateway.store import open_store
    from nlu.kb import KbFormatError, load_entries

    try:
        entries = load_entries(path)
    except (KbFormatError, OSError) as exc:
        print(f"hotline: cannot import {path}: {exc}", file=sys.stderr)
        return 2

    async def run() -> tuple[int, int, int]:
        store = await open_store(settings.database_url, auto_migrate=settings.database.auto_migrate,
                                 clock=settings.clock.clock())
        try:
            if only_if_empty and await store.kb.all():
                return 0, 0, -1
            results = await store.kb.save_many(entries, author=f"import:{path.name}")
        finally:
            await store.db.dispose()
        created = sum(r.created for r in results)
        updated = sum(r.changed and not r.created for r in results)
        return created, updated, len(results) - created - updated

    created, updated, unchanged = asyncio.run(run())
    if unchanged < 0:
        print("knowledge base already has entries; nothing imported")
    else:
        print(f"knowledge base: {created} created, {updated} updated, {unchanged} unchanged")
    return 0


def _add_account(settings: Settings, username: str, added: str,
                 add: Callable[["Store", str], Awaitable[Any]]) -> int:
    """A console or unit portal account: the password from HOTLINE_NEW_PASSWORD or the terminal, at least
    10 characters; `add(store, password)` stores it; `added` is what is printed when it is done."""
    import getpass
    import os

    from gateway.store import open_store

    password = os.environ.get("HOTLINE_NEW_PASSWORD") or getpass.getpass(f"password for {username}: ")
    if len(password) < 10:
        print("hotline: the password needs at least 10 characters", file=sys.stderr)
        return 2

    async def run() -> None:
        store = await open_store(settings.database_url, auto_migrate=settings.database.auto_migrate,
                                 clock=settings.clock.clock())
        try:
            await add(store, password)
        finally:
            await store.db.dispose()

    try:
        asyncio.run(run())
    except Exception as exc:  # a duplicate username is the usual one
        print(f"hotline: cannot add {username}: {type(exc).__name__}", file=sys.stderr)
        return 2
    print(f"{added} added")
    return 0


def _user_add(settings: Settings, username: str, display_name: str, role: str, skills: list[str] | None = None) -> int:
    """Create a console account (agent or supervisor, with special seats' skills)."""
    from routing.seats import SEATS
    if any(s not in SEATS for s in skills or []):
        print(f"hotline: skills are among {', '.join(SEATS)}", file=sys.stderr)
        return 2

    async def add(store: "Store", password: str) -> None:
        await store.agents.add(username, display_name or username, role, password)
        if skills:
            await store.workspace.set_skills(username, skills)
    return _add_account(settings, username, f"{role} {username}", add)


def _unit_user_add(settings: Settings, unit_id: str, username: str, display_name: str, role: str) -> int:
    """Create a unit portal account for a unit of config/units.yaml."""
    from routing.units import load_units

    units = load_units(settings.path(settings.routing.units))
    if unit_id not in units:
        print(f"hotline: no unit {unit_id!r} in {settings.routing.units}", file=sys.stderr)
        return 2

    async def add(store: "Store", password: str) -> None:
        await store.unit_users.add(unit_id, username, display_name or username, role, password)
    return _add_account(settings, username, f"{role} {username} of {units[unit_id].name}", add)


def _triage(settings: Settings) -> int:
    """JSON lines `{"text": ...}` on stdin, one result object per line on stdout."""
    from nlu.triage import Triager

    triager = Triager.from_settings(settings)
    status = 0
    for lineno, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            text = item["text"]
            if not isinstance(text, str):
                raise TypeError("text is not a string")
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            print(f"line {lineno}: expected {{\"text\": ...}}: {exc}", file=sys.stderr)
            print(json.dumps({"error": "bad_input", "line": lineno}), flush=True)
            status = 1
            continue
        print(json.dumps(triager.analyze(text).as_json(), ensure_ascii=False), flush=True)
    return status


def _outbox_redrive(settings: Settings, channel: str | None) -> int:
    from gateway.store import open_store

    async def run() -> int:
        store = await open_store(settings.database_url, auto_migrate=settings.database.auto_migrate,
                                 clock=settings.clock.clock())
        try:
            return await store.outbox.redrive_failed(channel)
        finally:
            await store.db.dispose()

    n = asyncio.run(run())
    print(f"{n} failed replies queued again; the running gateway sends them within [outbox] poll_seconds")
    return 0


def _nlu_train(settings: Settings, data: Path | None, out: Path | None) -> int:
    try:
        from nlu.train import train
    except ImportError as exc:
        print(f"hotline: training needs the train extra (pip install -e '.[train]'): {exc}", file=sys.stderr)
        return 2
    data = data or settings.base_dir.parent / "shared" / "data" / "train"
    if not (data / "zhejiang_board.jsonl").exists():
        print(f"hotline: no training data in {data} (give --data)", file=sys.stderr)
        return 2
    own = sorted((settings.base_dir / "tests" / "data").glob("triage*.jsonl")) + sorted(
        (settings.base_dir / "tests" / "data").glob("types*.jsonl")) + sorted(
        (settings.base_dir / "tests" / "data").glob("emergency_holdout*.jsonl"))
    train(data, own, settings.path(settings.triage.taxonomy), out or settings.path(settings.triage.model))
    return 0


def _nlu_train_dispatch(settings: Settings, out: Path | None) -> int:
    try:
        from routing.dispatch_train import train_dispatch
    except ImportError as exc:
        print(f"hotline: training needs the train extra (pip install -e '.[train]'): {exc}", file=sys.stderr)
        return 2
    from nlu.triage import Triager
    from routing.units import load_units
    data = settings.base_dir / "tests" / "data"
    files = [data / "dispatch.jsonl"] + sorted(data.glob("dispatch_train_*.jsonl"))
    units = load_units(settings.path(settings.routing.units))
    train_dispatch(units, Triager.from_settings(settings), files, out or settings.path(settings.routing.dispatch_model))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hotline", description="12345 hotline gateway")
    parser.add_argument("--config", type=Path, help="settings file (default config/hotline.toml or $HOTLINE_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the gateway (HTTP on server.host:server.port)")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    sub.add_parser("triage", help="triage JSON lines from stdin")
    nlu = sub.add_parser("nlu", help="language resources")
    nlu_sub = nlu.add_subparsers(dest="nlu_command", required=True)
    userdict = nlu_sub.add_parser("userdict", help="write the jieba user dictionary (for Rasa's JiebaTokenizer)")
    userdict.add_argument("file", type=Path)
    kb_examples = nlu_sub.add_parser("kb-examples", help="write the KB's questions as the bot's ask_question examples")
    kb_examples.add_argument("kb", type=Path)
    kb_examples.add_argument("file", type=Path)
    train = nlu_sub.add_parser("train", help="train the request-type and category model (needs the `train` extra)")
    train.add_argument("--data", type=Path, default=None,
                       help="the real boards' folder (default ../shared/data/train beside the project)")
    train.add_argument("--out", type=Path, default=None, help="model file (default: [triage] model)")
    train_dispatch = nlu_sub.add_parser("train-dispatch", help="train the dispatch matter model (needs the `train` extra)")
    train_dispatch.add_argument("--out", type=Path, default=None, help="model file (default: [routing] dispatch_model)")
    user = sub.add_parser("user", help="console accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    user_add = user_sub.add_parser("add", help="add an agent or supervisor (password: $HOTLINE_NEW_PASSWORD or prompt)")
    user_add.add_argument("username")
    user_add.add_argument("--name", default="", help="name shown in the console")
    user_add.add_argument("--role", choices=["agent", "supervisor"], default="agent")
    user_add.add_argument("--skills", help="special seats (Art. 17), comma-separated: legal,enterprise")
    unit_user = sub.add_parser("unit-user", help="handling units' portal accounts (/unit/)")
    unit_user_sub = unit_user.add_subparsers(dest="unit_user_command", required=True)
    unit_user_add = unit_user_sub.add_parser(
        "add", help="add a unit's staff member or head (password: $HOTLINE_NEW_PASSWORD or prompt)")
    unit_user_add.add_argument("--unit", required=True, help="unit id from config/units.yaml, e.g. urban")
    unit_user_add.add_argument("--username", required=True)
    unit_user_add.add_argument("--name", default="", help="name shown in the portal")
    unit_user_add.add_argument("--role", choices=["staff", "head"], default="staff",
                               help="staff: handle tickets; head: also request extension and termination")
    outbox = sub.add_parser("outbox", help="replies waiting to go out")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    redrive = outbox_sub.add_parser("retry-failed", help="send again what gave up (after a relay or platform outage)")
    redrive.add_argument("--channel", help="only this channel (email, wechat, telegram, ...)")
    kb = sub.add_parser("kb", help="knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    kb_import = kb_sub.add_parser("import", help="create or update entries from a YAML file")
    kb_import.add_argument("file", type=Path)
    kb_import.add_argument("--if-empty", action="store_true", help="only when the knowledge base has no entries")
    kb_choices = kb_sub.add_parser("choices", help="export citizens' picks after 「您是想问」 as calibration rows")
    kb_choices.add_argument("--export", type=Path, required=True, help="JSON lines file to write")
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        logs.configure(settings.logging.level, settings.logging.format)
        if args.command == "serve":
            return _serve(settings)
        if args.command == "db":
            return _db_upgrade(settings)
        if args.command == "nlu" and args.nlu_command == "train":
            return _nlu_train(settings, args.data, args.out)
        if args.command == "nlu" and args.nlu_command == "train-dispatch":
            return _nlu_train_dispatch(settings, args.out)
        if args.command == "nlu" and args.nlu_command == "kb-examples":
            from nlu.kb import load_entries
            from nlu.rasa_examples import write_ask_question_examples
            count = write_ask_question_examples(load_entries(args.kb), args.file)
            print(f"{count} ask_question examples written to {args.file}")
            return 0
        if args.command == "nlu":
            from nlu.gazetteer import Gazetteer
            from nlu.segment import user_words, write_userdict
            words = user_words(Gazetteer.load(settings.path(settings.triage.gazetteer)),
                               settings.path(settings.triage.taxonomy))
            print(f"{write_userdict(words, args.file)} words written to {args.file}")
            return 0
        if args.command == "user":
            return _user_add(settings, args.username, args.name, args.role,
                             [s for s in (args.skills or "").split(",") if s])
        if args.command == "unit-user":
            return _unit_user_add(settings, args.unit, args.username, args.name, args.role)
        if args.command == "outbox":
            return _outbox_redrive(settings, args.channel)
        if args.command == "kb" and args.kb_command == "choices":
            return _kb_choices_export(settings, args.export)
        if args.command == "kb":
            return _kb_import(settings, args.file, args.if_empty)
        return _triage(settings)
    except ServiceError as exc:
        print(f"hotline: {exc.reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
