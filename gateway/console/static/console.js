// Agent console. Every citizen-supplied string is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var csrf = "";
  var me = null;
  var current = null;      // the open conversation's id
  var shown = null;        // the open conversation as last fetched
  var ws = null;
  var agentsById = {};     // username -> {display_name, role, online}
  var L = { disposition: {}, request_type: {}, channel: {}, state: {}, status: {}, source: {}, event: {}, rating: {},
            categories: [], units: {} };
  var ROLE = { citizen: "市民", bot: "智能客服", system: "系统", agent: "人工客服" };
  var FIELD = { request_type: "类型", category: "类别", district: "区县", location: "地点", description: "诉求内容",
                contact_name: "联系人", contact_phone: "联系电话", anonymous: "匿名", status: "状态", unit: "承办单位",
                due_date: "办理期限", text: "内容", note: "意见", reason: "理由", days: "延期天数", solved: "是否解决",
                level: "满意度", ticket: "工单", method: "督办方式" };
  var METHOD = { phone: "电话督办", system: "系统督办", written: "书面督办", on_site: "现场督办" };
  var PAGE = 50;
  var list = { total: 0, filters: {} };
  var tickets = { total: 0, filters: {} };
  var scope = "conversations";
  var $ = function (id) { return document.getElementById(id); };

  function api(method, path, body) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (data) {
        if (r.status === 401) { showLogin(); }
        if (!r.ok) { var e = new Error((data.error && data.error.message) || "操作失败"); e.status = r.status; throw e; }
        return data;
      });
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text != null) node.textContent = text;
    return node;
  }

  // A code's Chinese name; a code without one is never shown as such.
  function label(kind, code) { return code == null ? "" : (L[kind] && L[kind][code]) || "其他"; }
  function agentName(username) {
    var a = agentsById[username];
    return a ? a.display_name + "（" + username + "）" : username;
  }
  function when(iso) {
    var d = new Date(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); osc.frequency.value = 880; osc.connect(ctx.destination);
      osc.start(); setTimeout(function () { osc.stop(); ctx.close(); }, 300);
    } catch (e) { /* no audio device: the visual alert remains */ }
  }

  var toastTimer = null;
  function toast(text, id) {
    var t = $("toast");
    t.textContent = text;
    if (id) {
      var b = el("button", "plain", "打开");
      b.type = "button"; b.onclick = function () { t.hidden = true; open(id); };
      t.appendChild(b);
    }
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.hidden = true; }, 10000);
  }

  function showLogin() { $("app").hidden = true; $("login").hidden = false; }

  function showApp(who) {
    csrf = who.csrf; me = who;
    $("me").textContent = who.display_name + "（" + who.username + "）";
    $("login").hidden = true; $("app").hidden = false;
    $("canned-admin-open").hidden = who.role !== "supervisor";
    $("supervisor-link").hidden = who.role !== "supervisor";  // the supervisor screen answers 403 to agents
    $("seat-tab").hidden = !(who.skills && who.skills.length);
    api("GET", "/console/api/labels").then(function (data) { L = data; fillFilters(); }).then(function () {
      return loadAgents();
    }).then(function () { loadList(); loadCallbacks(); connect(); });
  }

  function options(select, pairs) {
    pairs.forEach(function (p) { var o = el("option", "", p[1]); o.value = p[0]; select.appendChild(o); });
  }
  function pairsOf(map) { return Object.keys(map).map(function (k) { return [k, map[k]]; }); }

  function fillFilters() {
    options($("f-channel"), pairsOf(L.channel).filter(function (p) { return p[0] !== "api"; }));
    options($("f-state"), pairsOf(L.state));
    options($("f-status"), pairsOf(L.status));
    options($("f-category"), L.categories.map(function (c) { return [c, c]; }));
    var form = $("tv-form");
    options(form.request_type, pairsOf(L.request_type));
    options(form.category, L.categories.map(function (c) { return [c, c]; }));
  }

  // --- presence: who has the console open

  function loadAgents() {
    return api("GET", "/console/api/agents").then(function (data) {
      agentsById = {};
      data.items.forEach(function (a) { agentsById[a.username] = a; });
      drawAgents();
    });
  }

  function drawAgents() {
    var ul = $("agents");
    ul.textContent = "";
    var names = Object.keys(agentsById).sort(function (a, b) {
      return (agentsById[b].online ? 1 : 0) - (agentsById[a].online ? 1 : 0) || (a < b ? -1 : 1);
    });
    var online = 0;
    names.forEach(function (u) {
      var a = agentsById[u];
      if (a.online) online++;
      var li = el("li", a.online ? "online" : "offline");
      li.dataset.username = u;
      li.appendChild(el("span", "dot"));
      li.appendChild(el("span", "", a.display_name + (a.role === "supervisor" ? "（值班长）" : "") +
        (a.skills.length ? " · " + a.skills.map(function (k) { return label("seat", k); }).join("、") : "")));
      li.appendChild(el("span", "presence", a.online ? "在线" : "离线"));
      ul.appendChild(li);
    });
    $("online-count").textContent = "（" + online + "/" + names.length + "）";
    if (shown) fillTransfer(shown);
  }

  // Results waiting for the citizen's rating (回访, Art. 16): the agent calls and records the answer.
  var RATING = [["satisfied", "满意"], ["basically_satisfied", "基本满意"], ["dissatisfied", "不满意"]];

  function loadCallbacks() {
    return api("GET", "/console/api/callbacks").then(function (data) {
      var ul = $("callbacks");
      ul.textContent = "";
      $("callbacks-empty").hidden = data.items.length > 0;
      data.items.forEach(function (t) {
        var li = el("li");
        li.dataset.number = t.number;
        var meta = el("div", "meta");
        meta.appendChild(el("span", "badge", label("channel", t.channel)));
        meta.appendChild(el("span", "", t.number));
        meta.appendChild(el("span", "", t.contact_phone || t.contact || ""));
        li.appendChild(meta);
        li.appendChild(el("div", "text", t.description));
        var note = el("input", "callback-note");
        note.placeholder = "回访记录（可选）";
        li.appendChild(note);
        var solved = el("label", "", "问题已解决");
        var box = el("input"); box.type = "checkbox"; solved.prepend(box);
        li.appendChild(solved);
        var err = el("p", "error");
        RATING.forEach(function (r) {
          var b = el("button", "rate " + r[0], r[1]);
          b.type = "button";
          b.onclick = function () {
            api("POST", "/console/api/tickets/" + encodeURIComponent(t.number) + "/callback",
                { level: r[0], solved: box.checked, note: note.value.trim() || null })
              .then(loadCallbacks).catch(function (e) { err.textContent = e.message; });
          };
          li.appendChild(b);
        });
        li.appendChild(err);
        ul.appendChild(li);
      });
      $("callback-count").textContent = "（" + data.items.length + "）";
    });
  }

  // --- search and filters (on the server)

  function readFilters() {
    var q = $("q").value.trim();
    list.filters = { q: q, channel: $("f-channel").value, state: scope === "seat" ? "" : $("f-state").value,
                     category: $("f-category").value, queue: scope === "seat" ? "seat" : "" };
    tickets.filters = { q: q, channel: $("f-channel").value, status: $("f-status").value, category: $("f-category").value };
  }

  function setScope(s) {
    scope = s;
    document.querySelectorAll("#search .tab").forEach(function (t) { t.classList.toggle("on", t.dataset.scope === s); });
    $("conversations-pane").hidden = s === "tickets";
    $("tickets-pane").hidden = s !== "tickets";
    $("list-title").textContent = s === "seat" ? "我的专席队列" : "会话";
    $("f-state").hidden = s !== "conversations";
    $("f-status").hidden = s !== "tickets";
    search();
  }

  var searchTimer = null;
  function search() {
    readFilters();
    if (scope === "tickets") loadTickets(); else loadList();
  }

  // --- the conversation list: one page at a time, rows updated one by one from live events

  function query(path, filters, extra) {
    var params = new URLSearchParams();
    Object.keys(filters).forEach(function (k) { if (filters[k]) params.set(k, filters[k]); });
    Object.keys(extra).forEach(function (k) { params.set(k, extra[k]); });
    return path + "?" + params.toString();
  }

  function rowsShown() { return $("list").querySelectorAll("li[data-id]"); }

  function loadList() {
    return api("GET", query("/console/api/conversations", list.filters, { offset: 0, limit: PAGE })).then(function (data) {
      $("list").textContent = "";
      data.items.forEach(function (c) { $("list").appendChild(row(c)); });
      list.total = data.total;
      listChanged();
    });
  }

  function loadMore() {
    return api("GET", query("/console/api/conversations", list.filters, { offset: rowsShown().length, limit: PAGE }))
      .then(function (data) {
        data.items.forEach(function (c) {
          var old = $("list").querySelector("li[data-id='" + c.id + "']");
          if (old) old.remove();
          $("list").appendChild(row(c));
        });
        list.total = data.total;
        listChanged();
      });
  }

  function listChanged() {
    var n = rowsShown().length;
    $("count").textContent = "（" + list.total + "）";
    $("more").hidden = n >= list.total;
    $("list-empty").hidden = n > 0;
    $("alert").hidden = $("list").querySelector("li.urgent") === null;
  }

  function before(a, b) {
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) return a[i] < b[i]; }
    return false;
  }

  // One row from a live event: updated in place, moved to where the server's order puts it, added, or
  // removed when it no longer matches (closed, filtered out).
  function refreshRow(id) {
    return api("GET", query("/console/api/conversations", list.filters, { id: id })).then(function (data) {
      var old = $("list").querySelector("li[data-id='" + id + "']");
      var c = data.items[0];
      if (old) { old.remove(); if (!c) list.total = Math.max(0, list.total - 1); }
      if (c) {
        if (!old) list.total += 1;
        var rows = rowsShown(), place = null;
        for (var i = 0; i < rows.length; i++) {
          if (before(c.sort, JSON.parse(rows[i].dataset.sort))) { place = rows[i]; break; }
        }
        // After the last row shown while more exist: it belongs to a page not loaded yet.
        if (place || rows.length + 1 >= list.total) $("list").insertBefore(row(c), place);
      }
      listChanged();
    });
  }

  function row(c) {
    var li = el("li");
    li.dataset.id = c.id;
    li.dataset.sort = JSON.stringify(c.sort);
    if (c.emergency || c.state === "waiting_for_agent") li.classList.add("urgent");
    if (current === c.id) li.classList.add("active");
    var meta = el("div", "meta");
    meta.appendChild(el("span", "badge", label("channel", c.channel)));
    if (c.emergency) meta.appendChild(el("span", "badge emergency", "紧急"));
    if (c.seat) meta.appendChild(el("span", "badge seat", label("seat", c.seat)));
    meta.appendChild(el("span", "badge " + c.state, label("state", c.state) + (c.agent ? "·" + c.agent : "")));
    meta.appendChild(el("span", "", c.citizen));
    var wait = el("span", "wait");
    if (c.waiting_since) { wait.dataset.since = c.waiting_since; wait.textContent = waited(c.waiting_since); }
    meta.appendChild(wait);
    li.appendChild(meta);
    li.appendChild(el("div", "text", c.last_text));
    li.onclick = function () { open(c.id); };
    return li;
  }

  function waited(since) {
    var min = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 60000));
    return "已等待" + (min < 1 ? "不到1分钟" : min + "分钟");
  }

  setInterval(function () {
    document.querySelectorAll(".wait[data-since]").forEach(function (w) { w.textContent = waited(w.dataset.since); });
  }, 30000);

  // --- ticket search and the ticket view

  function ticketRow(t) {
    var li = el("li");
    li.dataset.number = t.number;
    var meta = el("div", "meta");
    meta.appendChild(el("span", "badge", label("channel", t.channel)));
    meta.appendChild(el("span", "badge", label("status", t.status)));
    meta.appendChild(el("span", "", t.number));
    if (t.category) meta.appendChild(el("span", "", t.category));
    li.appendChild(meta);
    li.appendChild(el("div", "text", t.description));
    li.onclick = function () { openTicket(t.number); };
    return li;
  }

  function loadTickets(more) {
    var shownRows = $("ticket-list").querySelectorAll("li").length;
    return api("GET", query("/console/api/tickets", tickets.filters, { offset: more ? shownRows : 0, limit: PAGE }))
      .then(function (data) {
        if (!more) $("ticket-list").textContent = "";
        data.items.forEach(function (t) { $("ticket-list").appendChild(ticketRow(t)); });
        tickets.total = data.total;
        var n = $("ticket-list").querySelectorAll("li").length;
        $("ticket-count").textContent = "（" + data.total + "）";
        $("ticket-more").hidden = n >= data.total;
        $("ticket-empty").hidden = n > 0;
      });
  }

  function actorName(actor) {
    if (actor === "citizen") return "市民";
    if (actor === "system") return "系统";
    if (actor === "bot") return "智能客服";
    if (actor.indexOf("agent:") === 0) return "坐席 " + agentName(actor.slice(6));
    if (actor.indexOf("unit:") === 0) return L.units[actor.slice(5)] || "承办单位";
    return "其他";
  }

  function value(key, v) {
    if (v === true) return "是";
    if (v === false) return "否";
    if (v == null || v === "") return "（空）";
    if (key === "status") return label("status", v);
    if (key === "request_type") return label("request_type", v);
    if (key === "unit") return L.units[v] || "其他单位";
    if (key === "level") return label("rating", v);
    if (key === "method") return METHOD[v] || "其他";
    if (typeof v === "object") return "";
    return String(v);
  }

  // An event's data in words: changes as 从…改为…, known fields by their Chinese names, nothing else.
  function describe(e) {
    var d = e.data || {};
    if (e.kind === "created") return "来源：" + label("source", d.source) + "，渠道：" + label("channel", d.channel);
    if (e.kind === "dispatch_proposed") {
      return d.lead ? "建议承办单位：" + value("unit", d.lead) : "无明确承办单位，转人工派单";
    }
    if (e.kind === "linked") return "关联工单 " + (d.ticket || "");
    var parts = [];
    Object.keys(d).forEach(function (k) {
      var v = d[k];
      if (!FIELD[k]) return;
      if (v && typeof v === "object" && "from" in v) parts.push(FIELD[k] + "：" + value(k, v.from) + " → " + value(k, v.to));
      else if (typeof v !== "object" || v === null) parts.push(FIELD[k] + "：" + value(k, v));
    });
    return parts.join("；");
  }

  function openTicket(number) {
    var view = $("ticket-view");
    $("tv-error").textContent = "";
    return api("GET", "/console/api/tickets/" + encodeURIComponent(number)).then(function (t) {
      view.dataset.number = t.number;
      $("tv-title").textContent = "工单 " + t.number;
      $("tv-status").textContent = label("status", t.status);
      $("tv-meta").textContent = "渠道：" + label("channel", t.channel) + "　登记：" + when(t.created_at) +
        (t.unit_id ? "　承办单位：" + value("unit", t.unit_id) : "") + (t.due_date ? "　办理期限：" + t.due_date : "");
      var form = $("tv-form");
      ["request_type", "category", "district", "location", "description", "contact_name", "contact_phone"].forEach(function (k) {
        form[k].value = t[k] || "";
      });
      form.anonymous.checked = !!t.anonymous;
      form.dataset.original = JSON.stringify(t);
      var ol = $("tv-trail");
      ol.textContent = "";
      t.events.forEach(function (e) {
        var li = el("li");
        li.appendChild(el("span", "at", when(e.at)));
        li.appendChild(el("strong", "", label("event", e.kind)));
        li.appendChild(el("span", "actor", actorName(e.actor)));
        var words = describe(e);
        if (words) li.appendChild(el("div", "what", words));
        ol.appendChild(li);
      });
      view.hidden = false;
    }).catch(function (e) { toast(e.message); });
  }

  $("tv-form").onsubmit = function (e) {
    e.preventDefault();
    var form = $("tv-form");
    var t = JSON.parse(form.dataset.original);
    var changes = {};
    ["request_type", "category", "district", "location", "description", "contact_name", "contact_phone"].forEach(function (k) {
      if ((t[k] || "") !== form[k].value) changes[k] = form[k].value;
    });
    if (!!t.anonymous !== form.anonymous.checked) changes.anonymous = form.anonymous.checked;
    if (!Object.keys(changes).length) { $("tv-error").textContent = "没有修改。"; return; }
    api("PATCH", "/console/api/tickets/" + encodeURIComponent(t.number), changes)
      .then(function () { openTicket(t.number); if (current !== null) refresh(); })
      .catch(function (err) { $("tv-error").textContent = err.message; });
  };
  $("tv-close").onclick = function () { $("ticket-view").hidden = true; };

  // --- canned replies kept by supervisors

  function loadCannedAdmin() {
    return api("GET", "/console/api/canned").then(function (data) {
      var ul = $("ca-list");
      ul.textContent = "";
      if (!data.items.length) ul.appendChild(el("li", "empty", "还没有快捷回复，请在上方新建。"));
      data.items.forEach(function (c) {
        var li = el("li");
        li.appendChild(el("strong", "", "/" + c.shortcut + " " + c.title));
        li.appendChild(el("div", "text", c.text));
        var edit = el("button", "plain", "编辑"); edit.type = "button";
        edit.onclick = function () {
          var f = $("ca-form");
          f.id.value = c.id; f.shortcut.value = c.shortcut; f.title.value = c.title; f.text.value = c.text;
        };
        var del = el("button", "plain", "删除"); del.type = "button";
        del.onclick = function () {
          api("DELETE", "/console/api/canned/" + c.id).then(loadCannedAdmin)
            .catch(function (e) { $("ca-error").textContent = e.message; });
        };
        li.appendChild(edit); li.appendChild(del);
        ul.appendChild(li);
      });
    });
  }
  $("canned-admin-open").onclick = function () { $("canned-admin").hidden = false; loadCannedAdmin(); };
  $("ca-close").onclick = function () { $("canned-admin").hidden = true; };
  $("ca-new").onclick = function () { $("ca-form").reset(); $("ca-form").id.value = ""; };
  $("ca-form").onsubmit = function (e) {
    e.preventDefault();
    var f = $("ca-form");
    var body = { shortcut: f.shortcut.value.trim(), title: f.title.value.trim(), text: f.text.value.trim() };
    $("ca-error").textContent = "";
    (f.id.value ? api("PUT", "/console/api/canned/" + f.id.value, body) : api("POST", "/console/api/canned", body))
      .then(function () { f.reset(); f.id.value = ""; loadCannedAdmin(); })
      .catch(function (err) { $("ca-error").textContent = err.message; });
  };

  // --- one conversation: built once when opened, then only updated (the forms keep what is typed)

  function open(id) {
    current = id;
    document.body.classList.add("viewing");
    rowsShown().forEach(function (li) { li.classList.toggle("active", Number(li.dataset.id) === id); });
    return api("GET", "/console/api/conversations/" + id).then(function (c) { build(c); update(c); loadHistory(c); });
  }

  function refresh() {
    var id = current;
    return api("GET", "/console/api/conversations/" + id).then(function (c) { if (current === id) update(c); });
  }

  function ownership(c) {
    if (c.state === "agent" && c.agent === me.username) return { mine: true, why: "" };
    if (c.state === "agent") return { mine: false, why: "该会话由" + (c.agent_name || c.agent) + "接管，只有其本人可以操作" };
    if (c.state === "closed") return { mine: false, why: "会话已结束" };
    return { mine: false, why: "请先接管该会话" };
  }

  function triageText(t) {
    return (t.emergency ? "紧急：" + t.emergency.lines.join("/") + " " : "") +
      [label("disposition", t.disposition), t.request_type && label("request_type", t.request_type), t.category,
       t.district].filter(Boolean).join(" · ");
  }

  function messageItem(m) {
    var li = el("li", m.from);
    li.dataset.key = "m" + m.id;
    li.dataset.at = m.created_at;
    li.appendChild(el("span", "from", (ROLE[m.from] || "其他") + " · " + when(m.created_at)));
    li.appendChild(document.createTextNode(m.text));
    if (m.triage) li.appendChild(el("span", "triage", triageText(m.triage)));
    (m.attachments || []).forEach(function (a) {
      var src = "/console/api/media/" + a.id;
      var media = a.kind === "image" ? el("img") : a.kind === "video" ? el("video") : a.kind === "voice" ? el("audio") : el("a", "", a.filename || "附件");
      if (media.tagName === "A") media.href = src; else { media.src = src; media.controls = true; }
      if (a.kind === "video" && a.reading && a.reading.poster) { media.poster = src + "/poster"; media.preload = "none"; }
      li.appendChild(media);
      var shown = readingBlock(a);
      if (shown) li.appendChild(shown);
    });
    li.dataset.reading = readingKey(m);
    return li;
  }

  // What was read from a photo or video (issue 18), under it: the text (masked like any shown text), how sure
  // the reader was, where the photo was taken, a video's length and its sound track; or why nothing was read.
  function readingBlock(a) {
    if (a.kind === "voice" && a.transcript === false) return el("div", "reading none", "语音未附识别文字，请收听录音");
    var r = a.reading;
    if (!r) return null;
    var box = el("div", "reading");
    if (r.state === "pending") { box.appendChild(el("span", "reading-head", "正在识别图片/视频中的文字…")); return box; }
    if (r.state === "failed") {
      box.className = "reading none";
      box.appendChild(el("span", "reading-head", "未能识别（文件过大、损坏或格式不支持），请直接查看原件"));
      return box;
    }
    var head = (a.kind === "video" ? "视频画面中的文字" : "图片中的文字") +
      (r.text ? "（识别置信度 " + Math.round((r.confidence || 0) * 100) + "%，仅供参考，以原件为准）" : "：未发现文字");
    box.appendChild(el("span", "reading-head", head));
    if (r.text) box.appendChild(el("div", "reading-text", r.text));
    if (r.duration) box.appendChild(el("span", "reading-fact", "时长 " + Math.round(r.duration) + " 秒"));
    if (r.location) {
      var loc = r.location;
      box.appendChild(el("span", "reading-fact", "拍摄位置：" + loc.latitude.toFixed(5) + ", " + loc.longitude.toFixed(5) +
        (loc.district ? "（" + (loc.approximate ? "约在" : "") + loc.district + (loc.approximate ? "，按坐标估计" : "") + "）" : "")));
    }
    if (r.audio) {
      box.appendChild(el("span", "reading-fact", "视频原声："));
      var audio = el("audio"); audio.src = "/console/api/media/" + a.id + "/audio"; audio.controls = true; audio.preload = "none";
      box.appendChild(audio);
    }
    return box;
  }

  function readingKey(m) {
    return (m.attachments || []).map(function (a) { return a.reading ? a.reading.state : ""; }).join(",");
  }

  function noteItem(n) {
    var li = el("li", "note");
    li.dataset.key = "n" + n.id;
    li.dataset.at = n.created_at;
    li.appendChild(el("span", "from", "内部备注 · " + (n.author_name || n.author) + " · " + when(n.created_at) + "（市民不可见）"));
    li.appendChild(document.createTextNode(n.text));
    return li;
  }

  function loadHistory(c) {
    var detail = $("detail");
    return api("GET", "/console/api/conversations/" + c.id + "/history").then(function (h) {
      if (current !== c.id) return;
      var ul = detail.querySelector(".history-list");
      ul.textContent = "";
      detail.querySelector(".history-phones").textContent = h.phones.length ? "关联电话：" + h.phones.join("、") : "";
      if (!h.conversations.length && !h.tickets.length) ul.appendChild(el("li", "empty", "没有该市民的其他会话或工单"));
      h.tickets.forEach(function (t) {
        var li = el("li", "h-ticket");
        li.appendChild(el("span", "badge", "工单"));
        li.appendChild(el("span", "", " " + t.number + " " + label("status", t.status) + " · " + label("channel", t.channel)));
        li.appendChild(el("div", "text", t.description));
        li.onclick = function () { openTicket(t.number); };
        ul.appendChild(li);
      });
      h.conversations.forEach(function (o) {
        var li = el("li", "h-conv");
        li.appendChild(el("span", "badge", label("channel", o.channel)));
        li.appendChild(el("span", "", " " + when(o.created_at) + " " + label("state", o.state) + " · " + o.citizen));
        li.appendChild(el("div", "text", o.first_text || "（无文字）"));
        li.onclick = function () { open(o.id); };
        ul.appendChild(li);
      });
    });
  }

  function fillTransfer(c) {
    var select = $("detail").querySelector(".transfer-to");
    if (!select) return;
    var keep = select.value;
    select.textContent = "";
    options(select, [["", "转交给…"]].concat(Object.keys(agentsById).filter(function (u) {
      return u !== me.username && u !== c.agent;
    }).map(function (u) { return [u, agentsById[u].display_name + (agentsById[u].online ? "（在线）" : "（离线）")]; })));
    select.value = keep;
  }

  function build(c) {
    var detail = $("detail");
    shown = null;
    detail.textContent = "";
    detail.dataset.id = c.id;
    detail.appendChild($("detail-tpl").content.cloneNode(true));
    var error = detail.querySelector(".error");
    function act(path, body) {
      error.textContent = "";
      return api("POST", "/console/api/conversations/" + c.id + path, body)
        .then(function (r) { refresh(); refreshRow(c.id); return r; })
        .catch(function (e) { error.textContent = e.message; throw e; });
    }
    var ignore = function () {};
    detail.querySelector(".back").onclick = function () { document.body.classList.remove("viewing"); };
    detail.querySelector(".takeover").onclick = function () { act("/takeover").catch(ignore); };
    detail.querySelector(".force").onclick = function () { act("/takeover", { force: true }).catch(ignore); };
    detail.querySelector(".handback").onclick = function () { act("/handback").catch(ignore); };
    detail.querySelector(".close").onclick = function () { act("/close").catch(ignore); };
    detail.querySelector(".transfer-go").onclick = function () {
      var to = detail.querySelector(".transfer-to").value;
      if (!to) { error.textContent = "请选择接收的坐席。"; return; }
      act("/transfer", { to: to }).then(function () { toast("已转交给" + agentName(to)); }).catch(ignore);
    };
    // The last thing the citizen said in words: a pick such as "2" after 「您是想问」 is no question.
    var lastCitizen = c.messages.filter(function (m) {
      return m.from === "citizen" && m.text && m.text.trim().length >= 4;
    }).pop();
    var q = detail.querySelector(".kb-q");
    q.value = lastCitizen ? lastCitizen.text.slice(0, 100) : "";
    function searchKb() {
      api("GET", "/console/api/kb/search?q=" + encodeURIComponent(q.value)).then(function (data) {
        var ul = detail.querySelector(".kb-results");
        ul.textContent = "";
        if (!data.results.length) ul.appendChild(el("li", "kb-empty", "知识库中没有相关条目"));
        data.results.forEach(function (r) {
          var li = el("li");
          li.appendChild(confidence(r.confidence));
          li.appendChild(el("strong", "", r.question));
          li.appendChild(el("div", "", r.answer.slice(0, 120) + (r.answer.length > 120 ? "…" : "")));
          var use = el("button", "needs-owner", "发送此答案");
          use.type = "button";
          var o = ownership(shown || c);
          use.disabled = !o.mine; use.title = o.why;
          use.onclick = function () { act("/reply", { text: r.answer }).catch(ignore); };
          li.appendChild(use);
          ul.appendChild(li);
        });
      });
    }
    detail.querySelector(".kb-form").onsubmit = function (e) { e.preventDefault(); searchKb(); };
    if (q.value) searchKb();
    var form = detail.querySelector(".new-ticket");
    form.description.value = lastCitizen ? lastCitizen.text : "";
    form.onsubmit = function (e) {
      e.preventDefault();
      var body = { request_type: form.request_type.value, description: form.description.value,
                   anonymous: form.anonymous.checked };
      ["district", "location", "contact_phone"].forEach(function (k) { if (form[k].value) body[k] = form[k].value; });
      error.textContent = "";
      api("POST", "/console/api/conversations/" + c.id + "/tickets", body)
        .then(function () { form.reset(); refresh(); })
        .catch(function (err) { error.textContent = err.message; });
    };
    buildComposer(detail, c, act);
  }

  function confidence(value) {
    var pct = Math.round(value * 100);
    return el("span", "kb-confidence " + (pct >= 40 ? "high" : pct >= 20 ? "mid" : "low"), "匹配度 " + pct + "%");
  }

  // The composer: reply or internal note; Enter sends, Shift+Enter breaks the line; "/" offers the
  // team's canned replies and the knowledge base's answers.
  function buildComposer(detail, c, act) {
    var composer = detail.querySelector(".composer");
    var box = composer.querySelector("textarea");
    var send = composer.querySelector(".send");
    var suggest = composer.querySelector(".suggest");
    var mode = "reply";
    var picked = -1;
    detail.querySelectorAll(".modes .mode").forEach(function (b) {
      b.onclick = function () {
        mode = b.dataset.mode;
        detail.querySelectorAll(".modes .mode").forEach(function (x) { x.classList.toggle("on", x === b); });
        composer.classList.toggle("noting", mode === "note");
        applyOwnership(shown || c);
        box.focus();
      };
    });
    composer.modeOf = function () { return mode; };

    function choose(i) {
      var items = suggest.querySelectorAll("li[data-text]");
      if (!items.length) return;
      picked = (i + items.length) % items.length;
      items.forEach(function (li, k) { li.classList.toggle("on", k === picked); });
    }
    function take(li) {
      box.value = li.dataset.text;
      suggest.hidden = true;
      box.focus();
    }
    var seq = 0;
    function lookup(term) {
      var mine = ++seq;
      var asks = [api("GET", "/console/api/canned?q=" + encodeURIComponent(term))];
      if (term.length >= 2) asks.push(api("GET", "/console/api/kb/search?q=" + encodeURIComponent(term)));
      Promise.all(asks).then(function (res) {
        if (mine !== seq || box.value.charAt(0) !== "/") return;
        suggest.textContent = "";
        res[0].items.forEach(function (r) {
          var li = el("li", "canned");
          li.dataset.text = r.text;
          li.appendChild(el("span", "badge", "快捷回复"));
          li.appendChild(el("strong", "", " /" + r.shortcut + " " + r.title));
          li.appendChild(el("div", "text", r.text));
          suggest.appendChild(li);
        });
        (res[1] ? res[1].results : []).forEach(function (r) {
          var li = el("li", "kb");
          li.dataset.text = r.answer;
          li.appendChild(el("span", "badge", "知识库"));
          li.appendChild(confidence(r.confidence));
          li.appendChild(el("strong", "", " " + r.question));
          li.appendChild(el("div", "text", r.answer));
          suggest.appendChild(li);
        });
        if (!suggest.children.length) suggest.appendChild(el("li", "empty", "没有匹配的快捷回复或知识库答案"));
        suggest.querySelectorAll("li[data-text]").forEach(function (li) {
          li.onmousedown = function (e) { e.preventDefault(); take(li); };
        });
        picked = -1;
        choose(0);
        suggest.hidden = false;
      });
    }
    var lastTyping = 0;
    box.addEventListener("input", function () {
      if (box.value.charAt(0) === "/" && box.value.indexOf("\n") < 0) lookup(box.value.slice(1).trim());
      else { suggest.hidden = true; seq++; }
      var o = ownership(shown || c);
      if (mode === "reply" && o.mine && (shown || c).channel === "web" && ws && ws.readyState === 1 &&
          Date.now() - lastTyping > 2500) {
        lastTyping = Date.now();
        ws.send(JSON.stringify({ type: "typing", conversation_id: c.id }));
      }
    });
    box.addEventListener("keydown", function (e) {
      if (!suggest.hidden) {
        if (e.key === "ArrowDown") { e.preventDefault(); choose(picked + 1); return; }
        if (e.key === "ArrowUp") { e.preventDefault(); choose(picked - 1); return; }
        if (e.key === "Escape") { e.preventDefault(); suggest.hidden = true; return; }
        if ((e.key === "Enter" || e.key === "Tab") && !e.isComposing) {
          var li = suggest.querySelectorAll("li[data-text]")[picked];
          if (li) { e.preventDefault(); take(li); return; }
        }
      }
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); composer.requestSubmit(); }
    });
    box.addEventListener("blur", function () { setTimeout(function () { suggest.hidden = true; }, 150); });
    composer.onsubmit = function (e) {
      e.preventDefault();
      var text = box.value.trim();
      if (!text || send.disabled) return;
      send.disabled = true;  // one click, one message: no second send while the first is on its way
      var done = mode === "note" ? act("/notes", { text: text }) : act("/reply", { text: text });
      done.then(function () { box.value = ""; })
        .catch(function () {})
        .then(function () { applyOwnership(shown || c); });
    };
  }

  function applyOwnership(c) {
    if (!c) return;
    var detail = $("detail");
    var o = ownership(c);
    var others = c.state === "agent" && !o.mine;
    var supervisor = me.role === "supervisor";
    var take = detail.querySelector(".takeover");
    take.disabled = c.state === "closed" || o.mine || others;
    take.title = others ? o.why : c.state === "closed" ? "会话已结束" : "";
    detail.querySelector(".force").hidden = !(others && supervisor);
    var canMove = c.state !== "closed" && (o.mine || supervisor);
    detail.querySelector(".transfer").hidden = !canMove;
    detail.querySelectorAll(".handback, .close, .needs-owner").forEach(function (b) {
      b.disabled = !o.mine; b.title = o.why;
    });
    var noting = detail.querySelector(".composer").classList.contains("noting");
    var send = detail.querySelector(".composer .send");
    send.disabled = !noting && !o.mine;
    send.title = noting ? "" : o.why;
    send.textContent = noting ? "添加备注" : "发送";
    detail.querySelector(".composer textarea").placeholder = noting ? "内部备注，仅坐席可见，不会发送给市民" :
      o.mine ? "输入回复，Enter发送，Shift+Enter换行，输入 / 调用快捷回复" : o.why;
  }

  function place(ol, li) {
    var at = li.dataset.at, next = null;
    for (var i = ol.children.length - 1; i >= 0; i--) {
      if (ol.children[i].dataset.at > at) next = ol.children[i]; else break;
    }
    ol.insertBefore(li, next);
  }

  function update(c) {
    var first = shown === null;
    shown = c;
    var detail = $("detail");
    detail.querySelector(".chan").textContent = label("channel", c.channel);
    detail.querySelector(".citizen").textContent = c.citizen;
    detail.querySelector(".state").textContent = label("state", c.state) + (c.agent_name ? "（" + c.agent_name + "）" : "");
    var line = detail.querySelector(".tickets");
    line.textContent = "";
    if (c.tickets.length) line.appendChild(el("span", "", "工单："));
    c.tickets.forEach(function (t) {
      var b = el("button", "ticket-link plain", t.number + " " + (t.category || "") + " " + label("status", t.status));
      b.type = "button";
      b.onclick = function () { openTicket(t.number); };
      line.appendChild(b);
    });
    var ol = detail.querySelector(".transcript");
    var atEnd = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 40;
    var added = 0;
    c.messages.forEach(function (m) {
      var had = ol.querySelector("li[data-key='m" + m.id + "']");
      if (!had) { place(ol, messageItem(m)); added++; }
      else if (had.dataset.reading !== readingKey(m)) had.replaceWith(messageItem(m));  // a photo read since
    });
    (c.notes || []).forEach(function (n) {
      if (!ol.querySelector("li[data-key='n" + n.id + "']")) { place(ol, noteItem(n)); added++; }
    });
    if (added && (atEnd || first)) ol.scrollTop = ol.scrollHeight;
    if (first) fillTransfer(c);
    applyOwnership(c);
  }

  var typingTimer = null;
  function citizenTyping() {
    var t = $("detail").querySelector(".typing");
    if (!t) return;
    t.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { t.hidden = true; }, 5000);
  }

  function connect() {
    var sock = ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/console/api/ws");
    sock.onopen = function () { loadAgents(); };
    sock.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      if (ev.type === "citizen_typing") { if (shown && ev.ref === shown.typing_ref) citizenTyping(); return; }
      if (ev.type === "presence") {
        var who = agentsById[ev.agent];
        if (who) { who.online = ev.online; drawAgents(); } else loadAgents();
        // A special seat staffed or left: its waiting conversations move between lists (Art. 17).
        if (who && who.skills.length && ev.agent !== me.username && scope !== "tickets") loadList();
        return;
      }
      if (ev.type === "emergency" || ev.type === "handoff") beep();
      if (ev.type === "assigned" && ev.agent === me.username && ev.by !== me.username) {
        beep();
        toast(agentName(ev.by) + "将一个会话转交给您", ev.conversation_id);
      }
      if (ev.type === "message" && shown && ev.conversation_id === shown.id) {
        var t = $("detail").querySelector(".typing"); if (t) t.hidden = true;
      }
      if (ev.conversation_id) refreshRow(ev.conversation_id);
      if (ev.type === "ticket_result") loadCallbacks();
      if (current !== null && ev.conversation_id === current) refresh();
    };
    sock.onclose = function (e) {
      if (e.code === 4401) { showLogin(); return; }  // the session ended (logout, expiry): log in again
      setTimeout(connect, 2000);
    };
  }

  $("more").onclick = loadMore;
  $("ticket-more").onclick = function () { loadTickets(true); };
  document.querySelectorAll("#search .tab").forEach(function (t) { t.onclick = function () { setScope(t.dataset.scope); }; });
  $("search").onsubmit = function (e) { e.preventDefault(); search(); };
  $("q").addEventListener("input", function () { clearTimeout(searchTimer); searchTimer = setTimeout(search, 300); });
  ["f-channel", "f-state", "f-status", "f-category"].forEach(function (id) { $(id).onchange = search; });
  $("login-form").onsubmit = function (e) {
    e.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/console/api/login", { username: $("username").value, password: $("password").value })
      .then(showApp).catch(function (err) { $("login-error").textContent = err.message; });
  };
  $("logout").onclick = function () { api("POST", "/console/api/logout").then(showLogin); };

  fetch("/console/api/me", { credentials: "same-origin" }).then(function (r) {
    return r.ok ? r.json().then(showApp) : showLogin();
  });
})();
