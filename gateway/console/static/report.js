// The printable weekly report. Every string from tickets or units goes in with textContent.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, text) { var n = document.createElement(tag); if (text != null) n.textContent = text; return n; }
  function row(cells, head) {
    var tr = el("tr");
    cells.forEach(function (c, i) { var td = el(head ? "th" : "td", c == null ? "—" : String(c)); if (!head && i === 1) td.className = "name"; tr.appendChild(td); });
    return tr;
  }
  function pct(v) { return v == null ? "—" : (v * 100).toFixed(1) + "%"; }
  function load() {
    var week = $("week").value;
    fetch("/console/api/analysis/report" + (week ? "?week=" + week : ""), { credentials: "same-origin" }).then(function (r) {
      return r.json().then(function (d) {
        if (r.status === 401) { location.href = "/console/analysis"; throw new Error("请先登录"); }
        if (!r.ok) throw new Error((d.error && d.error.message) || "加载失败");
        return d;
      });
    }).then(function (d) {
      $("period").textContent = "统计时间：" + d.from + " 至 " + d.to;
      var change = d.previous_week ? ((d.total - d.previous_week) / d.previous_week * 100).toFixed(1) : null;
      $("summary").textContent = "本周共受理群众诉求" + d.total + "件" + (change != null ? "，较上周" + (change >= 0 ? "增加" : "减少") + Math.abs(change) + "%" : "") +
        "；派至承办单位" + d.units.reduce(function (a, u) { return a + u.received; }, 0) + "件；发出风险预警" + d.warnings.length + "条。";
      var t = $("categories"); t.textContent = "";
      t.appendChild(row(["分类", "件数", "占比"], true));
      d.by_category.forEach(function (c) { t.appendChild(row([c[0], c[1], pct(c[1] / Math.max(d.total, 1))])); });
      var u = $("units"); u.textContent = "";
      u.appendChild(row(["排名", "承办单位", "综合得分", "接收", "按期办结率", "超期", "退单", "满意率", "一次办结率"], true));
      d.units.filter(function (x) { return x.rank != null; }).forEach(function (x) {
        u.appendChild(row([x.rank, x.name, x.score, x.received, pct(x.rates.on_time), x.overdue, x.returned, pct(x.rates.satisfaction), pct(x.rates.first_contact)]));
      });
      var w = $("warnings"); w.textContent = "";
      if (!d.warnings.length) w.appendChild(el("li", "本周无风险预警。"));
      d.warnings.forEach(function (x) { w.appendChild(el("li", "【" + x.kind_zh + "】" + x.day + " " + x.title)); });
      var tp = $("topics"); tp.textContent = "";
      if (!d.topics.length) tp.appendChild(el("li", "暂无。"));
      d.topics.forEach(function (x) { tp.appendChild(el("li", (x.district || "") + "：" + x.label + "（" + x.size + "件，近7天" + x.recent + "件）")); });
      var o = $("outlook"); o.textContent = "";
      var cats = Object.keys(d.outlook.categories).sort(function (a, b) { return d.outlook.categories[b][0].expected - d.outlook.categories[a][0].expected; }).slice(0, 8);
      if (cats.length) {
        o.appendChild(row(["分类"].concat(d.outlook.categories[cats[0]].slice(0, 4).map(function (r) { return r.week + "起"; })), true));
        cats.forEach(function (c) { o.appendChild(row([c].concat(d.outlook.categories[c].slice(0, 4).map(function (r) { return Math.round(r.expected) + "件"; })))); });
      }
      $("report").hidden = false;
      document.body.dataset.loaded = "1";
    }).catch(function (e) { $("error").textContent = e.message; });
  }
  $("week").onchange = load;
  $("print").onclick = function () { window.print(); };
  load();
})();
