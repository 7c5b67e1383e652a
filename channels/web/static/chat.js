// Citizen chat page: sends over REST, receives live replies over a WebSocket,
// and reloads history on start so a refresh loses nothing.
(function () {
  "use strict";
  var KEY = "hotline12345.session";
  var session = localStorage.getItem(KEY);
  if (!session || !/^[A-Za-z0-9_-]{8,64}$/.test(session)) {
    session = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2)).replace(/[^A-Za-z0-9_-]/g, "");
    localStorage.setItem(KEY, session);
  }
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var text = document.getElementById("text");
  var file = document.getElementById("file");
  var chosen = document.getElementById("chosen");
  var send = document.getElementById("send");
  var status = document.getElementById("status");
  var shown = {};

  function clientId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 10); }

  function setStatus(msg) { status.textContent = msg || ""; status.hidden = !msg; }

  function showTicket(number) {
    if (!number) return;
    document.getElementById("ticket-number").textContent = number;
    document.getElementById("ticket").hidden = false;
  }

  function mediaUrl(att) { return "/api/v1/web/media/" + att.id + "?session=" + encodeURIComponent(session); }

  function render(m) {
    if (m.id != null) { if (shown[m.id]) return; shown[m.id] = true; }
    var div = document.createElement("div");
    var role = m.from || (m.direction === "in" ? "citizen" : "bot");
    div.className = "msg " + role;
    div.dataset.role = role;
    if (m.emergency_lines && m.emergency_lines.length) div.className += " emergency";
    div.textContent = m.text || "";
    (m.attachments || []).forEach(function (a) {
      if (a.id == null) return;
      var el = document.createElement(a.kind === "video" ? "video" : "img");
      el.src = mediaUrl(a);
      if (a.kind === "video") el.controls = true; else el.alt = "图片";
      div.appendChild(el);
    });
    if (m.emergency_lines && m.emergency_lines.length) {
      var calls = document.createElement("div"); calls.className = "calls";
      m.emergency_lines.forEach(function (line) {
        var a = document.createElement("a"); a.href = "tel:" + line; a.textContent = "拨打 " + line; calls.appendChild(a);
      });
      div.appendChild(calls);
    }
    if (m.buttons && m.buttons.length) {
      var bar = document.createElement("div"); bar.className = "buttons";
      m.buttons.forEach(function (b) {
        var btn = document.createElement("button"); btn.type = "button"; btn.textContent = b.title;
        btn.onclick = function () { submit(b.payload || b.title, null); };
        bar.appendChild(btn);
      });
      div.appendChild(bar);
    }
    showTicket(m.ticket_number);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function localEcho(t, f) {
    var div = document.createElement("div");
    div.className = "msg citizen";
    div.dataset.role = "citizen";
    div.textContent = t;
    if (f) {
      var el = document.createElement(f.type.indexOf("video") === 0 ? "video" : "img");
      el.src = URL.createObjectURL(f);
      if (el.tagName === "VIDEO") el.controls = true; else el.alt = "图片";
      div.appendChild(el);
    }
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
    return div;
  }

  function submit(t, f) {
    t = (t || "").trim();
    if (!t && !f) return;
    var echo = localEcho(t, f);
    var cid = clientId();
    var req;
    if (f) {
      var fd = new FormData();
      fd.append("session", session); fd.append("text", t); fd.append("client_id", cid); fd.append("file", f, f.name);
      req = { method: "POST", body: fd };
    } else {
      req = { method: "POST", headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ session: session, text: t, client_id: cid }) };
    }
    send.disabled = true;
    return fetch("/api/v1/web/messages", req).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) throw new Error((body.error && body.error.message) || "发送失败，请稍后重试。");
        (body.replies || []).forEach(render);
        if (body.pending) setStatus("正在处理，请稍候…");
      });
    }).catch(function (err) {
      echo.className += " failed";
      setStatus(err.message || "网络异常，发送失败，请稍后重试。");
    }).finally(function () { send.disabled = false; });
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var f = file.files[0] || null;
    var t = text.value;
    text.value = ""; file.value = ""; chosen.hidden = true;
    setStatus("");
    submit(t, f);
  });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  file.addEventListener("change", function () {
    var f = file.files[0];
    chosen.textContent = f ? "已选择：" + f.name : "";
    chosen.hidden = !f;
  });

  // Typing both ways: the agent sees the citizen typing; the citizen sees 客服正在输入….
  var socket = null, lastTyping = 0, typingTimer = null;
  var typing = document.getElementById("typing");
  text.addEventListener("input", function () {
    if (socket && socket.readyState === 1 && Date.now() - lastTyping > 2500) {
      lastTyping = Date.now(); socket.send('{"type":"typing"}');
    }
  });

  function connect(delay) {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = socket = new WebSocket(proto + "//" + location.host + "/api/v1/web/ws?session=" + encodeURIComponent(session));
    ws.onopen = function () { delay = 1000; setStatus(""); };
    ws.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      if (ev.type === "reply") { setStatus(""); typing.hidden = true; render(ev); }
      if (ev.type === "typing") {
        typing.hidden = false; clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.hidden = true; }, 5000);
      }
    };
    ws.onclose = function () { setTimeout(function () { connect(Math.min(delay * 2, 30000)); }, delay); };
  }

  fetch("/api/v1/web/history?session=" + encodeURIComponent(session)).then(function (r) { return r.json(); })
    .then(function (body) {
      var msgs = body.messages || [];
      if (!msgs.length) {
        render({ from: "bot", text: "您好，这里是泰安市12345政务服务便民热线。请问有什么可以帮您？您可以直接描述问题，也可以上传图片或视频。" });
      }
      msgs.forEach(render);
    }).finally(function () { connect(1000); });
})();
