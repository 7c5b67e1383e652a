// Agent console. Every citizen-supplied string is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var csrf = "";
  var current = null;
  var ROLE = { citizen: "市民", bot: "智能客服", system: "系统", agent: "人工客服" };
  var STATE = { bot: "机器人服务中", waiting_for_agent: "等待人工", agent: "人工服务中", closed: "已结束" };
  var CHANNEL = { web: "网页", wechat: "微信", email: "邮件", ivr: "电话", telegram: "Telegram" };
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

  function beep() {
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(); osc.frequency.value = 880; osc.connect(ctx.destination);
      osc.start(); setTimeout(function () { osc.stop(); ctx.close(); }, 300);
    } catch (e) { /* no audio device: the visual alert remains */ }
  }

  function showLogin() { $("app").hidden = true; $("login").hidden = false; }

  function showApp(me) {
    csrf = me.csrf;
    $("me").textContent = me.display_name + "（" + me.username + "）";
    $("login").hidden = true; $("app").hidden = false;
    loadList(); loadCallbacks(); connect();
  }

  // Results waiting for the citizen's rating (回访, Art. 16): the agent calls and records the answer.
  var RATING = [["satisfied", "满意"], ["basically_satisfied", "基本满意"], ["dissatisfied", "不满意"]];

  function loadCallbacks() {
    return api("GET", "/console/api/callbacks").then(function (data) {
      var list = $("callbacks");
      list.textContent = "";
      data.items.forEach(function (t) {
        var li = el("li");
        li.dataset.number = t.number;
        var meta = el("div", "meta");
        meta.appendChild(el("span", "badge", CHANNEL[t.channel] || t.channel));
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
        list.appendChild(li);
      });
      $("callback-count").textContent = "（" + data.items.length + "）";
    });
  }

  function loadList() {
    return api("GET", "/console/api/conversations").then(function (data) {
      var list = $("list");
      list.textContent = "";
      var urgent = 0;
      data.items.forEach(function (c) {
        var li = el("li");
        li.dataset.id = c.id;
        if (c.emergency || c.state === "waiting_for_agent") { li.className = "urgent"; urgent++; }
        if (current === c.id) li.className += " active";
        var meta = el("div", "meta");
        meta.appendChild(el("span", "badge", CHANNEL[c.channel] || c.channel));
        if (c.emergency) meta.appendChild(el("span", "badge emergency", "紧急"));
        meta.appendChild(el("span", "badge " + c.state, STATE[c.state] + (c.agent ? "·" + c.agent : "")));
        meta.appendChild(el("span", "", c.citizen));
        meta.appendChild(el("span", "", waited(c.waiting_since)));
        li.appendChild(meta);
        li.appendChild(el("div", "text", c.last_text));
        li.onclick = function () { open(c.id); };
        list.appendChild(li);
      });
      $("count").textContent = "（" + data.items.length + "）";
      $("alert").hidden = urgent === 0;
    });
  }

  function waited(since) {
    if (!since) return "";
    var min = Math.max(0, Math.round((Date.now() - Date.parse(since)) / 60000));
    return min < 1 ? "刚刚" : min + "分钟";
  }

  function open(id) {
    current = id;
    return api("GET", "/console/api/conversations/" + id).then(render).then(loadList);
  }

  function render(c) {
    var detail = $("detail");
    // Live updates re-render the view: keep what the agent is typing.
    var typing = detail.querySelector(".composer textarea");
    var draft = typing && Number(detail.dataset.id) === c.id ? typing.value : "";
    var focused = typing && document.activeElement === typing;
    detail.textContent = "";
    detail.dataset.id = c.id;
    detail.appendChild($("detail-tpl").content.cloneNode(true));
    detail.querySelector(".chan").textContent = CHANNEL[c.channel] || c.channel;
    detail.querySelector(".citizen").textContent = c.citizen;
    detail.querySelector(".state").textContent = STATE[c.state] + (c.agent ? "（" + c.agent + "）" : "");
    detail.querySelector(".tickets").textContent = c.tickets.length ?
      "工单：" + c.tickets.map(function (t) { return t.number + " " + (t.category || "") + " " + t.status; }).join("；") : "";
    var ol = detail.querySelector(".transcript");
    c.messages.forEach(function (m) {
      var li = el("li", m.from);
      li.appendChild(el("span", "from", ROLE[m.from] || m.from));
      li.appendChild(document.createTextNode(m.text));
      if (m.triage) {
        var t = m.triage;
        li.appendChild(el("span", "triage", (t.emergency ? "紧急：" + t.emergency.lines.join("/") + " " : "") +
          [t.disposition, t.request_type, t.category, t.district].filter(Boolean).join(" · ")));
      }
      (m.attachments || []).forEach(function (a) {
        var src = "/console/api/media/" + a.id;
        var media = a.kind === "image" ? el("img") : a.kind === "video" ? el("video") : a.kind === "voice" ? el("audio") : el("a", "", a.filename || "附件");
        if (media.tagName === "A") media.href = src; else { media.src = src; media.controls = true; }
        li.appendChild(media);
      });
      ol.appendChild(li);
    });
    ol.scrollTop = ol.scrollHeight;
    var mine = c.state === "agent";
    detail.querySelector(".takeover").disabled = c.state === "agent" || c.state === "closed";
    detail.querySelector(".handback").disabled = !mine;
    detail.querySelector(".close").disabled = !mine;
    detail.querySelector(".composer button").disabled = !mine;
    var error = detail.querySelector(".error");
    function act(path, body) {
      error.textContent = "";
      return api("POST", "/console/api/conversations/" + c.id + path, body)
        .then(function () { return open(c.id); })
        .catch(function (e) { error.textContent = e.message; });
    }
    detail.querySelector(".takeover").onclick = function () { act("/takeover"); };
    detail.querySelector(".handback").onclick = function () { act("/handback"); };
    detail.querySelector(".close").onclick = function () { act("/close"); };
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
          var use = el("button", "", "发送此答案");
          use.type = "button"; use.disabled = !mine;
          use.onclick = function () { act("/reply", { text: r.answer }); };
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
        .then(function () { return open(c.id); })
        .catch(function (err) { error.textContent = err.message; });
    };
    var box = detail.querySelector(".composer textarea");
    box.value = draft;
    if (focused) box.focus();
    detail.querySelector(".composer").onsubmit = function (e) {
      e.preventDefault();
      var box = detail.querySelector(".composer textarea");
      var text = box.value.trim();
      if (!text) return;
      act("/reply", { text: text }).then(function () { box.value = ""; });
    };
  }

  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host + "/console/api/ws");
    ws.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      if (ev.type === "emergency" || ev.type === "handoff") beep();
      loadList();
      if (ev.type === "ticket_result") loadCallbacks();
      if (current !== null && ev.conversation_id === current) open(current);
    };
    ws.onclose = function () { setTimeout(connect, 2000); };
  }

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
