// Agent console. Every citizen-supplied string is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var csrf = "";
  var me = null;
  var current = null;      // the open conversation's id
  var shown = null;        // the open conversation as last fetched
  var L = { disposition: {}, request_type: {}, channel: {}, state: {}, status: {}, source: {}, event: {}, rating: {} };
  var ROLE = { citizen: "市民", bot: "智能客服", system: "系统", agent: "人工客服" };
  var PAGE = 50;
  var list = { total: 0, filters: {} };
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

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); osc.frequency.value = 880; osc.connect(ctx.destination);
      osc.start(); setTimeout(function () { osc.stop(); ctx.close(); }, 300);
    } catch (e) { /* no audio device: the visual alert remains */ }
  }

  function showLogin() { $("app").hidden = true; $("login").hidden = false; }

  function showApp(who) {
    csrf = who.csrf; me = who;
    $("me").textContent = who.display_name + "（" + who.username + "）";
    $("login").hidden = true; $("app").hidden = false;
    api("GET", "/console/api/labels").then(function (data) { L = data; }).then(function () {
      loadList(); loadCallbacks(); connect();
    });
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

  // --- the conversation list: one page at a time, rows updated one by one from live events

  function listQuery(extra) {
    var params = new URLSearchParams();
    Object.keys(list.filters).forEach(function (k) { if (list.filters[k]) params.set(k, list.filters[k]); });
    Object.keys(extra).forEach(function (k) { params.set(k, extra[k]); });
    return "/console/api/conversations?" + params.toString();
  }

  function rowsShown() { return $("list").querySelectorAll("li[data-id]"); }

  function loadList() {
    return api("GET", listQuery({ offset: 0, limit: PAGE })).then(function (data) {
      $("list").textContent = "";
      data.items.forEach(function (c) { $("list").appendChild(row(c)); });
      list.total = data.total;
      listChanged();
    });
  }

  function loadMore() {
    return api("GET", listQuery({ offset: rowsShown().length, limit: PAGE })).then(function (data) {
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
    return api("GET", listQuery({ id: id })).then(function (data) {
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

  // --- one conversation: built once when opened, then only updated (the forms keep what is typed)

  function open(id) {
    current = id;
    rowsShown().forEach(function (li) { li.classList.toggle("active", Number(li.dataset.id) === id); });
    return api("GET", "/console/api/conversations/" + id).then(function (c) { build(c); update(c); });
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
    li.appendChild(el("span", "from", ROLE[m.from] || "其他"));
    li.appendChild(document.createTextNode(m.text));
    if (m.triage) li.appendChild(el("span", "triage", triageText(m.triage)));
    (m.attachments || []).forEach(function (a) {
      var src = "/console/api/media/" + a.id;
      var media = a.kind === "image" ? el("img") : a.kind === "video" ? el("video") : a.kind === "voice" ? el("audio") : el("a", "", a.filename || "附件");
      if (media.tagName === "A") media.href = src; else { media.src = src; media.controls = true; }
      li.appendChild(media);
    });
    return li;
  }

  function build(c) {
    var detail = $("detail");
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
    detail.querySelector(".takeover").onclick = function () { act("/takeover").catch(function () {}); };
    detail.querySelector(".handback").onclick = function () { act("/handback").catch(function () {}); };
    detail.querySelector(".close").onclick = function () { act("/close").catch(function () {}); };
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
          var pct = Math.round(r.confidence * 100);
          li.appendChild(el("span", "kb-confidence " + (pct >= 40 ? "high" : pct >= 20 ? "mid" : "low"),
                            "匹配度 " + pct + "%"));
          li.appendChild(el("strong", "", r.question));
          li.appendChild(el("div", "", r.answer.slice(0, 120) + (r.answer.length > 120 ? "…" : "")));
          var use = el("button", "needs-owner", "发送此答案");
          use.type = "button";
          var o = ownership(shown || c);
          use.disabled = !o.mine; use.title = o.why;
          use.onclick = function () { act("/reply", { text: r.answer }).catch(function () {}); };
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
    var composer = detail.querySelector(".composer");
    var box = composer.querySelector("textarea");
    var send = composer.querySelector("button");
    composer.onsubmit = function (e) {
      e.preventDefault();
      var text = box.value.trim();
      if (!text || send.disabled) return;
      send.disabled = true;  // one click, one message: no second send while the first is on its way
      act("/reply", { text: text })
        .then(function () { box.value = ""; })
        .catch(function () {})
        .then(function () { applyOwnership(shown); });
    };
  }

  function applyOwnership(c) {
    if (!c) return;
    var detail = $("detail");
    var o = ownership(c);
    var others = c.state === "agent" && !o.mine;
    var take = detail.querySelector(".takeover");
    take.disabled = c.state === "closed" || o.mine || others;
    take.title = others ? o.why : c.state === "closed" ? "会话已结束" : "";
    detail.querySelectorAll(".handback, .close, .composer button, .needs-owner").forEach(function (b) {
      b.disabled = !o.mine; b.title = o.why;
    });
    detail.querySelector(".composer textarea").placeholder = o.mine ? "输入回复，Enter发送，Shift+Enter换行" : o.why;
  }

  function update(c) {
    shown = c;
    var detail = $("detail");
    detail.querySelector(".chan").textContent = label("channel", c.channel);
    detail.querySelector(".citizen").textContent = c.citizen;
    detail.querySelector(".state").textContent = label("state", c.state) + (c.agent_name ? "（" + c.agent_name + "）" : "");
    detail.querySelector(".tickets").textContent = c.tickets.length ?
      "工单：" + c.tickets.map(function (t) {
        return t.number + " " + (t.category || "") + " " + label("status", t.status);
      }).join("；") : "";
    var ol = detail.querySelector(".transcript");
    var atEnd = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 40;
    var added = 0;
    c.messages.forEach(function (m) {
      if (!ol.querySelector("li[data-key='m" + m.id + "']")) { ol.appendChild(messageItem(m)); added++; }
    });
    if (added && (atEnd || ol.children.length === added)) ol.scrollTop = ol.scrollHeight;
    applyOwnership(c);
  }

  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/console/api/ws");
    ws.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      if (ev.type === "emergency" || ev.type === "handoff") beep();
      if (ev.conversation_id) refreshRow(ev.conversation_id);
      if (ev.type === "ticket_result") loadCallbacks();
      if (current !== null && ev.conversation_id === current) refresh();
    };
    ws.onclose = function () { setTimeout(connect, 2000); };
  }

  $("more").onclick = loadMore;
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
