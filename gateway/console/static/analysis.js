// The supervisors' analysis dashboard (Art. 22-25). Citizen- or unit-supplied strings (topic words,
// ticket numbers, titles) go in with textContent, never as HTML; charts get plain data.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var charts = {};
  var socket = null;
  var RATES = { accepted_in_time: "按时签收率", on_time: "按期办结率", satisfaction: "满意率",
                first_contact: "一次办结率", not_returned: "未退单率" };
  var COLS = [["rank", "排名"], ["name", "承办单位"], ["score", "综合得分"], ["received", "接收"], ["accepted_in_time", "按时签收"],
              ["resolved", "办结"], ["on_time", "按期办结"], ["overdue", "超期"], ["returned", "退单"], ["extensions", "延期"],
              ["rehandles", "重办"], ["satisfied", "满意"], ["basically_satisfied", "基本满意"], ["dissatisfied", "不满意"],
              ["first_contact", "一次办结"], ["median_hours", "办理时长中位数(小时)"]];

  function api(method, path) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = window.__csrf || "";
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401) show("login");
        if (r.status === 403 && data.error && data.error.code === "supervisor_only") show("forbidden");
        if (!r.ok) { var e = new Error((data.error && data.error.message) || "加载失败，请稍后重试。"); e.status = r.status; throw e; }
        return data;
      });
    });
  }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = text;
    return n;
  }
  function show(which) { ["login", "forbidden", "app"].forEach(function (id) { $(id).hidden = id !== which; }); }
  function fail(e) { $("error").textContent = e.message || String(e); }
  function iso(d) { return d.toISOString().slice(0, 10); }
  function query() { return "?from=" + $("from").value + "&to=" + $("to").value; }
  function pct(v) { return v == null ? "—" : (v * 100).toFixed(1) + "%"; }
  function chart(id) {
    if (!charts[id]) charts[id] = echarts.init($(id));
    return charts[id];
  }

  // --- warnings (live)

  function warningItem(w, fresh) {
    var li = el("li", (w.closed_at ? "closed" : "") + (fresh ? " fresh" : ""));
    li.dataset.id = w.id;
    li.appendChild(el("span", "kind", w.kind_zh));
    li.appendChild(el("strong", "", w.title));
    li.appendChild(el("span", "meta", "  " + w.day + (w.unit_name ? " · " + w.unit_name : "")));
    if (!w.closed_at) {
      var b = el("button", "secondary", "已处理");
      b.type = "button";
      b.onclick = function () {
        api("POST", "/console/api/analysis/warnings/" + w.id + "/close").then(function () { li.classList.add("closed"); b.remove(); })
          .catch(fail);
      };
      li.appendChild(b);
    }
    var ev = w.evidence || {};
    var parts = [];
    if (ev.observed != null) parts.push("实际" + ev.observed + "件，预计" + ev.expected + "件（季节系数" + ev.seasonal_factor + "，概率" + Number(ev.p_value).toExponential(1) + "）");
    if (ev.recent_share != null) parts.push("近期" + pct(ev.recent_share) + "（" + ev.recent + "/" + ev.recent_of + "），以往" + pct(ev.earlier_share));
    if (ev.tickets && ev.tickets.length) parts.push("工单：" + ev.tickets.slice(0, 12).join("、") + (ev.tickets.length > 12 ? " 等" : ""));
    if (parts.length) li.appendChild(el("p", "evidence", parts.join("；")));
    return li;
  }
  function loadWarnings() {
    return api("GET", "/console/api/analysis/warnings").then(function (d) {
      var ul = $("warnings");
      ul.textContent = "";
      if (!d.items.length) ul.appendChild(el("li", "closed", "暂无预警"));
      d.items.forEach(function (w) { ul.appendChild(warningItem(w, false)); });
    });
  }
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + "/console/api/ws");
    socket.onopen = function () { $("live").classList.add("on"); };
    socket.onmessage = function (m) {
      var ev = JSON.parse(m.data);
      if (ev.type === "risk_warning") {
        var ul = $("warnings");
        if (ul.firstChild && !ul.firstChild.dataset.id) ul.textContent = "";
        ul.insertBefore(warningItem(ev.warning, true), ul.firstChild);
      }
    };
    socket.onclose = function (e) {
      $("live").classList.remove("on");
      if (e.code === 4401) { show("login"); return; }
      if (!$("app").hidden) setTimeout(connect, 3000);
    };
  }

  // --- figures

  function loadOverview() {
    return api("GET", "/console/api/analysis/overview" + query()).then(function (d) {
      var days = [], cats = {}, series = {};
      d.by_day.forEach(function (r) {
        if (days[days.length - 1] !== r.day) days.push(r.day);
        cats[r.category] = (cats[r.category] || 0) + r.tickets;
      });
      var top = Object.keys(cats).sort(function (a, b) { return cats[b] - cats[a]; }).slice(0, 7);
      var index = {};
      days.forEach(function (day, i) { index[day] = i; });
      top.concat(["其他"]).forEach(function (c) { series[c] = days.map(function () { return 0; }); });
      d.by_day.forEach(function (r) {
        var c = top.indexOf(r.category) >= 0 ? r.category : "其他";
        series[c][index[r.day]] += r.tickets;
      });
      chart("chart-volume").setOption({
        tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 }, grid: { left: 48, right: 16, top: 36, bottom: 28 },
        xAxis: { type: "category", data: days }, yAxis: { type: "value", name: "件" },
        series: Object.keys(series).map(function (c) { return { name: c, type: "line", stack: "all", areaStyle: {}, symbol: "none", data: series[c] }; })
      }, true);
      var districts = [], mcats = [];
      d.matrix.forEach(function (r) {
        if (districts.indexOf(r.district) < 0) districts.push(r.district);
        if (mcats.indexOf(r.category) < 0 && top.indexOf(r.category) >= 0) mcats.push(r.category);
      });
      chart("chart-matrix").setOption({
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } }, legend: { type: "scroll", top: 0 },
        grid: { left: 60, right: 16, top: 40, bottom: 30 },
        xAxis: { type: "category", data: districts }, yAxis: { type: "value", name: "件" },
        series: mcats.map(function (c) {
          return { name: c, type: "bar", stack: "d", data: districts.map(function (dist) {
            var row = d.matrix.filter(function (r) { return r.district === dist && r.category === c; })[0];
            return row ? row.tickets : 0; }) };
        })
      }, true);
      return d;
    });
  }

  function kpi(label, value) {
    var box = el("div", "kpi");
    box.appendChild(el("div", "value", value));
    box.appendChild(el("div", "label", label));
    return box;
  }

  function loadUnits(overview) {
    return api("GET", "/console/api/analysis/units" + query()).then(function (d) {
      var sum = function (k) { return d.units.reduce(function (a, u) { return a + (u[k] || 0); }, 0); };
      var rated = sum("satisfied") + sum("basically_satisfied") + sum("dissatisfied");
      var k = $("kpis");
      k.textContent = "";
      k.appendChild(kpi("受理诉求（件）", String(overview.total)));
      k.appendChild(kpi("派至承办单位（件）", String(sum("received"))));
      k.appendChild(kpi("按期办结率", pct(sum("on_time") / Math.max(sum("resolved") + sum("overdue_open"), 1))));
      k.appendChild(kpi("超期（件）", String(sum("overdue"))));
      k.appendChild(kpi("满意率", rated ? pct((sum("satisfied") + 0.8 * sum("basically_satisfied")) / rated) : "—"));
      k.appendChild(kpi("一次办结率", pct(sum("first_contact") / Math.max(sum("resolved"), 1))));
      $("weights").textContent = "综合得分权重：" + Object.keys(d.weights).map(function (w) {
        return (RATES[w] || w) + " " + d.weights[w]; }).join("，");
      var t = $("units");
      t.textContent = "";
      var head = el("tr");
      COLS.forEach(function (c) { head.appendChild(el("th", "", c[1])); });
      Object.keys(RATES).forEach(function (r) { head.appendChild(el("th", "", RATES[r])); });
      t.appendChild(head);
      d.units.forEach(function (u) {
        var tr = el("tr");
        COLS.forEach(function (c) {
          var v = u[c[0]];
          tr.appendChild(el("td", c[0] === "score" && v != null && v < 80 ? "low" : "", v == null ? "—" : String(v)));
        });
        Object.keys(RATES).forEach(function (r) { tr.appendChild(el("td", "", pct(u.rates[r]))); });
        t.appendChild(tr);
      });
      var ranked = d.units.filter(function (u) { return u.rank != null; }).reverse();
      chart("chart-scores").setOption({
        tooltip: {}, grid: { left: 150, right: 24, top: 10, bottom: 20 },
        xAxis: { type: "value", min: 0, max: 100 },
        yAxis: { type: "category", data: ranked.map(function (u) { return u.name; }), axisLabel: { fontSize: 11 } },
        series: [{ type: "bar", data: ranked.map(function (u) { return u.score; }), itemStyle: { color: "#c8161d" },
                   label: { show: true, position: "right", fontSize: 10 } }]
      }, true);
      $("export-csv").href = "/console/api/analysis/export.csv" + query();
      $("export-xlsx").href = "/console/api/analysis/export.xlsx" + query();
    });
  }

  function loadTrend() {
    return api("GET", "/console/api/analysis/trend?months=6").then(function (d) {
      var units = Object.keys(d.series);
      var last = function (u) { var s = d.series[u].filter(function (v) { return v != null; }); return s.length ? s[s.length - 1] : 100; };
      units.sort(function (a, b) { return last(a) - last(b); });
      var shown = units.slice(0, 6);  // the lowest six now: where a supervisor looks first
      chart("chart-trend").setOption({
        tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 }, grid: { left: 40, right: 16, top: 40, bottom: 30 },
        xAxis: { type: "category", data: d.periods }, yAxis: { type: "value", min: 0, max: 100 },
        series: shown.map(function (u) { return { name: d.names[u], type: "line", data: d.series[u], connectNulls: true }; })
      }, true);
    });
  }

  function topicItem(t) {
    var li = el("li");
    li.appendChild(el("span", "label", t.label));
    li.appendChild(el("div", "meta", (t.district || "") + " · 共" + t.size + "件 · 近7天" + t.recent + "件 · 增长" + t.growth + "倍" +
      (t.new ? " · 新问题" : "") + " · " + Object.keys(t.categories || {}).join("、")));
    var det = el("details");
    det.appendChild(el("summary", "", "查看工单"));
    det.appendChild(el("div", "numbers", t.tickets.join("、")));
    li.appendChild(det);
    return li;
  }
  function loadTopics() {
    return api("GET", "/console/api/analysis/topics").then(function (d) {
      $("topics-day").textContent = d.day ? "截至" + d.day : "";
      [["topics-frequent", d.frequent.slice(0, 10)], ["topics-growing", d.growing.slice(0, 10)]].forEach(function (p) {
        var ol = $(p[0]);
        ol.textContent = "";
        if (!p[1].length) ol.appendChild(el("li", "empty", "暂无"));
        p[1].forEach(function (t) { ol.appendChild(topicItem(t)); });
      });
    });
  }

  function loadOutlook() {
    return api("GET", "/console/api/analysis/outlook").then(function (d) {
      var cats = Object.keys(d.categories);
      cats.sort(function (a, b) { return d.categories[b][0].expected - d.categories[a][0].expected; });
      cats = cats.slice(0, 6);
      var weeks = cats.length ? d.categories[cats[0]].map(function (r) { return r.week + "周"; }) : [];
      chart("chart-outlook").setOption({
        tooltip: { trigger: "axis" }, legend: { type: "scroll", top: 0 }, grid: { left: 48, right: 16, top: 36, bottom: 28 },
        xAxis: { type: "category", data: weeks }, yAxis: { type: "value", name: "件/周" },
        series: cats.map(function (c) { return { name: c, type: "bar", data: d.categories[c].map(function (r) { return r.expected; }) }; })
      }, true);
    });
  }

  function loadAll() {
    $("error").textContent = "";
    $("report-link").href = "/console/analysis/report";
    return Promise.all([loadWarnings(), loadOverview().then(loadUnits), loadTrend(), loadTopics(), loadOutlook()])
      .then(function () { document.body.dataset.loaded = "1"; }).catch(fail);
  }

  function setDays(n) {
    var to = new Date(Date.now() + 8 * 3600 * 1000);  // the hotline's day (Asia/Shanghai)
    $("to").value = iso(to);
    $("from").value = iso(new Date(to.getTime() - (n - 1) * 86400000));
  }

  function start(me) {
    if (me.role !== "supervisor") { show("forbidden"); return; }
    window.__csrf = me.csrf;
    $("me").textContent = me.display_name || me.username;
    show("app");
    var params = new URLSearchParams(location.search);
    setDays(30);
    if (params.get("from")) $("from").value = params.get("from");
    if (params.get("to")) $("to").value = params.get("to");
    loadAll();
    connect();
  }

  document.querySelectorAll("[data-days]").forEach(function (b) {
    b.onclick = function () { setDays(Number(b.dataset.days)); loadAll(); };
  });
  $("period").onsubmit = function (e) { e.preventDefault(); loadAll(); };
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  $("login-form").onsubmit = function (e) {
    e.preventDefault();
    fetch("/console/api/login", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }) })
      .then(function (r) { return r.json().then(function (d) { if (!r.ok) throw new Error((d.error && d.error.message) || "登录失败"); return d; }); })
      .then(start).catch(function (e) { $("login-error").textContent = e.message; });
  };
  api("GET", "/console/api/me").then(start).catch(function (e) { if (e.status !== 401 && e.status !== 403) fail(e); });
})();
