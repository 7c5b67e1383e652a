"""The supervisors' analysis dashboard (Art. 22-25) at `/console/analysis`, its JSON, exports and the
printable weekly report at `/console/analysis/report`.

Supervisors only (403 for agents, 401 without a session), like the supervisor's screen. The figures
come from `gateway.analysis.AnalysisService`; hot topics from its latest snapshot (computed now when
there is none yet).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable

from aiohttp import web

from gateway.analysis import AnalysisService
from gateway.errors import BadRequest, NotFound
from gateway.store.agents import Agent
from routing.analysis.evaluation import COUNTS, Evaluation

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
MAX_DAYS = 400
RATES_ZH = {"accepted_in_time": "按时签收率", "on_time": "按期办结率", "satisfaction": "满意率",
            "first_contact": "一次办结率", "not_returned": "未退单率"}
COUNTS_ZH = {"received": "接收工单", "accepted": "签收", "accepted_in_time": "按时签收", "returned": "退单",
             "extensions": "延期", "rehandles": "重办", "resolved": "办结", "on_time": "按期办结", "late": "超期办结",
             "overdue_open": "超期未办结", "satisfied": "满意", "basically_satisfied": "基本满意",
             "dissatisfied": "不满意", "first_contact": "一次办结"}


def _date(value: str | None, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} is not a date: {value[:20]!r}", code="bad_date",
                         message_zh="日期格式应为 YYYY-MM-DD。") from None


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is written as text (CSV/XLSX injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class AnalysisApi:
    def __init__(self, service: Callable[[], AnalysisService],
                 supervisor: Callable[[web.Request, bool], Awaitable[Agent]]) -> None:
        self._service = service
        self._supervisor = supervisor

    def routes(self) -> list[web.AbstractRouteDef]:
        base = "/console/api/analysis"
        return [
            web.get("/console/analysis", self.page),
            web.get("/console/analysis/report", self.report_page),
            web.get(f"{base}/overview", self.overview),
            web.get(f"{base}/units", self.units),
            web.get(f"{base}/trend", self.trend),
            web.get(f"{base}/topics", self.topics),
            web.get(f"{base}/warnings", self.warnings),
            web.post(f"{base}/warnings/{{id:\\d{{1,18}}}}/close", self.close_warning),
            web.get(f"{base}/outlook", self.outlook),
            web.get(f"{base}/report", self.report),
            web.get(f"{base}/export.{{fmt:csv|xlsx}}", self.export),
        ]

    def _page(self, name: str) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers={
            "Cache-Control": "no-cache", "X-Frame-Options": "DENY", "Content-Security-Policy": CSP})

    async def page(self, request: web.Request) -> web.FileResponse:
        return self._page("analysis.html")

    async def report_page(self, request: web.Request) -> web.FileResponse:
        return self._page("report.html")

    def _period(self, request: web.Request, default_days: int = 30) -> tuple[dt.date, dt.date]:
        """[from, to] inclusive from the query (default: the last `default_days` days); returns [start, end)."""
        today = self._service().clock.today()
        to = _date(request.query.get("to"), "to") or today
        start = _date(request.query.get("from"), "from") or to - dt.timedelta(days=default_days - 1)
        if start > to:
            raise BadRequest("from is after to", code="bad_period", message_zh="开始日期不能晚于结束日期。")
        if (to - start).days >= MAX_DAYS:
            raise BadRequest("period too long", code="bad_period", message_zh=f"统计区间最长{MAX_DAYS}天。")
        return start, to + dt.timedelta(days=1)

    def _unit_rows(self, rows: list[Evaluation]) -> list[dict[str, Any]]:
        svc = self._service()
        return [{**e.as_json(), "name": svc.unit_name(e.unit_id)} for e in rows]

    async def overview(self, request: web.Request) -> web.Response:
        """Tickets per day and category, per district and category, the open warnings."""
        await self._supervisor(request, False)
        start, end = self._period(request)
        a = self._service()
        store = a._store().analysis
        by_day = await store.volume(start, end, "category")
        matrix = await store.matrix(start, end)
        return web.json_response({
            "from": start.isoformat(), "to": (end - dt.timedelta(days=1)).isoformat(),
            "total": sum(n for _, _, n in by_day),
            "by_day": [{"day": d.isoformat(), "category": c or "未分类", "tickets": n} for d, c, n in by_day],
            "matrix": [{"district": d or "未知", "category": c or "未分类", "tickets": n} for d, c, n in matrix]})

    async def units(self, request: web.Request) -> web.Response:
        """Art. 22: each unit's figures, rates, composite score and rank for the period."""
        await self._supervisor(request, False)
        start, end = self._period(request)
        svc = self._service()
        return web.json_response({"from": start.isoformat(), "to": (end - dt.timedelta(days=1)).isoformat(),
                                  "weights": svc.settings.score_weights,
                                  "units": self._unit_rows(await svc.evaluation(start, end))})

    async def trend(self, request: web.Request) -> web.Response:
        await self._supervisor(request, False)
        try:
            months = min(max(int(request.query.get("months", "6")), 1), 12)
        except ValueError:
            raise BadRequest("months is not a number", code="bad_months", message_zh="月份数应为1到12的整数。") from None
        svc = self._service()
        data = await svc.trend(months, svc.clock.today())
        return web.json_response({**data, "names": {u: svc.unit_name(u) for u in data["series"]}})

    async def topics(self, request: web.Request) -> web.Response:
        """Art. 23: hot topics of the last weeks (the latest snapshot), biggest and fastest-growing."""
        await self._supervisor(request, False)
        svc = self._service()
        snap = await svc._store().analysis.snapshot("topics")
        if snap is None:
            data, computed = await svc.topics(svc.clock.today()), svc.clock.now()
        else:
            computed, data = snap
        district, category = request.query.get("district"), request.query.get("category")
        topics = [t for t in data.get("topics", []) if (not district or t["district"] == district)
                  and (not category or category in (t.get("categories") or {}))]
        growing = sorted((t for t in topics if t["recent"] >= 3), key=lambda t: -t["growth"])[:20]
        return web.json_response({"day": data.get("day"), "computed_at": computed.isoformat(),
                                  "frequent": topics[:30], "growing": growing})

    async def warnings(self, request: web.Request) -> web.Response:
        await self._supervisor(request, False)
        open_only = request.query.get("open") == "1"
        items = await self._service()._store().analysis.warnings(open_only=open_only)
        svc = self._service()
        return web.json_response({"items": [{**w, "unit_name": svc.unit_name(w["unit"]) if w["unit"] else None}
                                            for w in items]})

    async def close_warning(self, request: web.Request) -> web.Response:
        agent = await self._supervisor(request, True)
        wid = int(request.match_info["id"])
        if not await self._service()._store().analysis.close_warning(wid, f"agent:{agent.username}"):
            raise NotFound("no such open warning", code="warning_not_found", message_zh="该预警不存在或已处理。")
        log.info("risk warning %d closed by %s", wid, agent.username)
        return web.json_response({"closed": wid})

    async def outlook(self, request: web.Request) -> web.Response:
        """Art. 25: the expected tickets per category for the coming weeks."""
        await self._supervisor(request, False)
        svc = self._service()
        return web.json_response(await svc.outlook(svc.clock.today()))

    async def report(self, request: web.Request) -> web.Response:
        """The weekly report: the week (Monday to Sunday) containing `week` (default: last week)."""
        await self._supervisor(request, False)
        svc = self._service()
        day = _date(request.query.get("week"), "week") or svc.clock.today() - dt.timedelta(days=7)
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=7)
        store = svc._store().analysis
        by_cat: dict[str, int] = {}
        for _, c, n in await store.volume(start, end, "category"):
            by_cat[c or "未分类"] = by_cat.get(c or "未分类", 0) + n
        before = sum(n for _, _, n in await store.volume(start - dt.timedelta(days=7), start, "category"))
        warnings = [w for w in await store.warnings(since=start) if w["day"] < end.isoformat()]
        snap = await store.snapshot("topics")
        return web.json_response({
            "from": start.isoformat(), "to": (end - dt.timedelta(days=1)).isoformat(),
            "total": sum(by_cat.values()), "previous_week": before,
            "by_category": sorted(by_cat.items(), key=lambda kv: -kv[1]),
            "units": self._unit_rows(await svc.evaluation(start, end)),
            "warnings": warnings, "topics": (snap[1].get("topics", []) if snap else [])[:10],
            "outlook": await svc.outlook(end)})

    async def export(self, request: web.Request) -> web.StreamResponse:
        """The unit evaluation of the period as CSV (UTF-8 with BOM, for Excel) or XLSX."""
        await self._supervisor(request, False)
        start, end = self._period(request)
        svc = self._service()
        rows = self._unit_rows(await svc.evaluation(start, end))
        header = ["排名", "承办单位", "综合得分", *[COUNTS_ZH[c] for c in COUNTS], "超期合计", "办理时长中位数（小时）",
                  *RATES_ZH.values()]
        table = [[r["rank"], r["name"], r["score"], *[r[c] for c in COUNTS], r["overdue"], r["median_hours"],
                  *[r["rates"][k] for k in RATES_ZH]] for r in rows]
        name = f"unit-evaluation-{start.isoformat()}-{(end - dt.timedelta(days=1)).isoformat()}"
        if request.match_info["fmt"] == "csv":
            buf = io.StringIO()
            w = csv.writer(buf)
            w.writerow(header)
            w.writerows([[_cell(v) for v in row] for row in table])
            return web.Response(body=("\ufeff" + buf.getvalue()).encode("utf-8"), headers={
                "Content-Type": "text/csv; charset=utf-8", "Content-Disposition": f'attachment; filename="{name}.csv"'})
        from openpyxl import Workbook
        wb = Workbook()
        ws = wb.active
        ws.title = "承办单位评价"
        ws.append([f"统计区间：{start.isoformat()} 至 {(end - dt.timedelta(days=1)).isoformat()}"])
        ws.append(header)
        for row in table:
            ws.append([_cell(v) for v in row])
        topics = wb.create_sheet("热点问题")
        topics.append(["区县", "问题", "件数", "近7天", "增长倍数", "涉及工单"])
        snap = await svc._store().analysis.snapshot("topics")
        for t in (snap[1].get("topics", []) if snap else [])[:100]:
            topics.append([_cell(t["district"]), _cell(t["label"]), t["size"], t["recent"], t["growth"],
                           " ".join(t["tickets"][:20])])
        out = io.BytesIO()
        wb.save(out)
        return web.Response(body=out.getvalue(), headers={
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "Content-Disposition": f'attachment; filename="{name}.xlsx"'})
