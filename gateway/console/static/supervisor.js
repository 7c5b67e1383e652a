// The supervisor's screen (值班长督办台). Every citizen- or unit-supplied string is inserted with
// textContent, never as HTML. Decisions go to the console's endpoints with the CSRF header.
(function () {
  "use strict";
  var csrf = "";
  var units = {};          // id -> {id, name, kind}
  var lastJson = {};       // list name -> the JSON it was last drawn from (unchanged lists are not redrawn)
  var openTicket = null;   // the number whose trail is shown
  var drill = null;        // {unit, kind} of the board's drill-down
  var POLL_MS = 10000;     // the hub does not report every ticket change (bot-opened tickets): poll too
  var $ = function (id) { return document.getElementById(id); };

  var STATUS = { open: "待派单", dispatched: "已派单", in_progress: "办理中", resolved: "已答复待回访",
                 closed: "已办结", terminated: "已终止办理" };
  var CHANNEL = { web: "网页", wechat: "微信", email: "邮件", ivr: "电话", telegram: "Telegram", api: "接口" };
  var KIND = { county: "属地政府", department: "市直部门", utility: "公共服务企业" };
  var LEVEL = { satisfied: "满意", basically_satisfied: "基本满意", dissatisfied: "不满意" };
  var METHOD = { phone: "电话督办", system: "系统督办", written: "书面督办", on_site: "现场督办" };
  var DRILL = { red: "超期工单", yellow: "临期工单", open: "在办工单", returns: "退回过的工单", dissatisfied: "不满意评价的工单" };
  var EVENT = {
    created: "受理登记", dispatch_proposed: "系统派单建议", dispatched: "派单", accept: "承办单位受理",
    "return": "承办单位退回", progress: "办理进展", result: "答复办理结果", extension: "申请延期",
    termination: "申请终止办理", extension_approved: "批准延期", extension_rejected: "不予延期",
    termination_approved: "批准终止办理", termination_rejected: "不予终止", rating: "市民评价",
    status_changed: "状态变更", rehandle: "值班长：重新办理", close: "值班长：办结", supervision: "督办意见",
    needs_supervisor: "转值班长人工派单", linked: "并单关联", updated: "修改工单信息",
    citizen_message: "市民补充", citizen_media: "市民补充材料", repeat: "市民再次来电"
  };
  var LIVE_EVENTS = { ticket_changed: 1, ticket_result: 1, dissatisfied: 1, ticket_without_bot: 1, contact_block: 1 };

  // --- plumbing

  function api(method, path, body) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.status === 401) showLogin();
        if (r.status === 403 && data.error && data.error.code === "supervisor_only") showForbidden();
        if (!r.ok) { var e = new Error((data.error && data.error.message) || "操作失败，请稍后重试。"); e.status = r.status; throw e; }
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

  function button(cls, text, onclick) {
    var b = el("button", cls, text);
    b.type = "button";
    if (onclick) b.onclick = onclick;
    return b;
  }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function unitName(id) { return id ? (units[id] ? units[id].name : id) : "—"; }

  function actorName(actor) {
    if (!actor) return "";
    if (actor === "system") return "系统";
    if (actor === "citizen") return "市民";
    if (actor === "bot") return "智能客服";
    var i = actor.indexOf(":");
    if (i > 0 && actor.slice(0, i) === "unit") return unitName(actor.slice(i + 1));
    if (i > 0 && actor.slice(0, i) === "agent") return "工作人员 " + actor.slice(i + 1);
    return actor;
  }

  function fail(err) { $("error").textContent = err.message; }
  function clearError() { $("error").textContent = ""; }

  // Redrawing a list keeps what the supervisor was typing: inputs are keyed by data-keep.
  function keepState(root) {
    var state = { values: {}, open: {}, focus: null };
    root.querySelectorAll("[data-keep]").forEach(function (n) {
      if (n.tagName === "DETAILS") state.open[n.dataset.keep] = n.open;
      else if (n.type === "checkbox") state.values[n.dataset.keep] = n.checked;
      else state.values[n.dataset.keep] = n.value;
      if (n === document.activeElement) state.focus = n.dataset.keep;
    });
    return state;
  }

  function restoreState(root, state) {
    root.querySelectorAll("[data-keep]").forEach(function (n) {
      var k = n.dataset.keep;
      if (n.tagName === "DETAILS") { if (k in state.open) n.open = state.open[k]; }
      else if (k in state.values) { if (n.type === "checkbox") n.checked = state.values[k]; else n.value = state.values[k]; }
      if (state.focus === k) n.focus();
    });
  }

  function draw(list, name, items, render, empty) {
    var json = JSON.stringify(items);
    if (lastJson[name] === json) return;
    lastJson[name] = json;
    var state = keepState(list);
    list.textContent = "";
    if (!items.length) list.appendChild(el("li", "empty", empty));
    items.forEach(function (item) { list.appendChild(render(item)); });
    restoreState(list, state);
  }

  // --- ticket summaries shared by the lists

  function ticketHead(t) {
    var head = el("div", "meta");
    var num = button("link number", t.number, function () { showTicket(t.number); });
    head.appendChild(num);
    head.appendChild(el("span", "badge", CHANNEL[t.channel] || t.channel));
    head.appendChild(el("span", "badge status-" + t.status, STATUS[t.status] || t.status));
    if (t.colour) head.appendChild(el("span", "badge " + t.colour, t.colour === "red" ? "超期" : "临期"));
    if (t.category) head.appendChild(el("span", "tag", t.category));
    if (t.district) head.appendChild(el("span", "tag", t.district));
    head.appendChild(el("span", "time", when(t.created_at)));
    return head;
  }

  function field(label, value) {
    var p = el("p", "field");
    p.appendChild(el("span", "label", label));
    p.appendChild(el("span", "value", value));
    return p;
  }

  function describe(li, t) {
    li.appendChild(el("p", "desc", t.description));
    if (t.location) li.appendChild(field("地点", t.location));
  }

  // --- manual dispatch queue (Art. 14(3))

  function unitSelect(keep, selected) {
    var sel = el("select");
    sel.dataset.keep = keep;
    sel.appendChild(el("option", "", "请选择主办单位")).value = "";
    ["department", "county", "utility"].forEach(function (kind) {
      var group = el("optgroup");
      group.label = KIND[kind];
      Object.keys(units).forEach(function (id) {
        if (units[id].kind !== kind) return;
        var o = el("option", "", units[id].name);
        o.value = id;
        if (id === selected) o.selected = true;
        group.appendChild(o);
      });
      sel.appendChild(group);
    });
    return sel;
  }

  function renderQueueItem(t) {
    var li = el("li", "card");
    li.dataset.number = t.number;
    li.appendChild(ticketHead(t));
    describe(li, t);
    var p = t.proposal;
    var box = el("div", "proposal");
    if (p && p.lead) {
      var line = el("p");
      line.appendChild(el("span", "label", "建议主办"));
      line.appendChild(el("strong", "lead", p.lead_name));
      var conf = Math.round((p.confidence || 0) * 100);
      line.appendChild(el("span", "confidence " + (conf >= 50 ? "high" : conf >= 25 ? "mid" : "low"), "把握 " + conf + "%"));
      box.appendChild(line);
      if (p.cooperating.length) box.appendChild(field("建议协办", p.cooperating.map(function (c) { return c.name; }).join("、")));
      box.appendChild(field("依据", p.reason || "—"));
    } else {
      box.appendChild(el("p", "hint", (p && p.reason) || "系统没有找到匹配的承办单位，请人工选择。"));
    }
    t.returns.forEach(function (r) {
      box.appendChild(field("退回", r.unit_name + "：" + (r.reason || "未说明理由") + "（" + when(r.at) + "）"));
    });
    li.appendChild(box);
    var err = el("p", "error");
    var actions = el("div", "actions");
    if (p && p.lead) {
      actions.appendChild(button("primary assign-proposed", "派给 " + p.lead_name, function (ev) {
        ev.target.disabled = true;
        assign(t.number, p.lead, p.cooperating.map(function (c) { return c.id; }), "按系统建议派单：" + (p.reason || ""), err)
          .then(null, function () { ev.target.disabled = false; });
      }));
    }
    li.appendChild(actions);
    var other = el("details", "other");
    other.dataset.keep = t.number + ":other";
    other.appendChild(el("summary", "", p && p.lead ? "另选承办单位" : "选择承办单位"));
    var form = el("form", "assign-form");
    var lead = unitSelect(t.number + ":lead", "");
    lead.className = "lead-select";
    var leadLabel = el("label", "", "主办单位 ");
    leadLabel.appendChild(lead);
    form.appendChild(leadLabel);
    var coop = el("fieldset", "coop");
    coop.appendChild(el("legend", "", "协办单位（可多选）"));
    Object.keys(units).forEach(function (id) {
      var lab = el("label", "check");
      var box2 = el("input");
      box2.type = "checkbox"; box2.value = id; box2.dataset.keep = t.number + ":coop:" + id;
      lab.appendChild(box2);
      lab.appendChild(document.createTextNode(" " + units[id].name));
      coop.appendChild(lab);
    });
    form.appendChild(coop);
    var reason = el("input", "reason");
    reason.placeholder = "派单说明（可选）"; reason.maxLength = 255; reason.dataset.keep = t.number + ":reason";
    form.appendChild(reason);
    var go = el("button", "primary", "确认派单");
    go.type = "submit";
    form.appendChild(go);
    form.onsubmit = function (ev) {
      ev.preventDefault();
      if (!lead.value) { err.textContent = "请选择主办单位。"; return; }
      var picked = Array.prototype.filter.call(coop.querySelectorAll("input:checked"), function (b) {
        return b.value !== lead.value;
      }).map(function (b) { return b.value; });
      assign(t.number, lead.value, picked, reason.value.trim() || "值班长人工派单", err);
    };
    other.appendChild(form);
    li.appendChild(other);
    li.appendChild(err);
    return li;
  }

  function assign(number, unit, cooperating, reason, err) {
    err.textContent = "";
    return api("POST", "/console/api/tickets/" + encodeURIComponent(number) + "/assign",
               { unit: unit, cooperating: cooperating, reason: reason.slice(0, 255) })
      .then(function () { refresh(); if (openTicket === number) showTicket(number); })
      .catch(function (e) { err.textContent = e.message; throw e; });
  }

  // --- supervision board (Art. 19)

  function renderBoard(data) {
    $("board-today").textContent = "今天 " + data.today + " · 下一个工作日 " + data.next_workday;
    // Deadlines beyond the announced holiday schedule are provisional: say so until operators add it.
    var cal = data.calendar || {};
    $("calendar").hidden = !cal.message_zh;
    $("calendar").textContent = cal.message_zh || "";
    var root = $("board");
    var json = JSON.stringify(data.units);
    if (lastJson.board !== json) {
      lastJson.board = json;
      root.textContent = "";
      if (!data.units.length) root.appendChild(el("p", "empty", "目前没有在办的工单。工单派发到承办单位后会显示在这里。"));
      data.units.forEach(function (u) {
        var row = el("div", "unit-row");
        row.dataset.unit = u.unit;
        row.appendChild(button("link unit-name", u.name, function () { openDrill(u.unit, "open"); }));
        var counts = el("div", "counts");
        [["red", "超期", u.red.length], ["yellow", "临期", u.yellow.length], ["open", "在办", u.open],
         ["returns", "退回", u.returns], ["dissatisfied", "不满意", u.dissatisfied]].forEach(function (c) {
          var b = button("count " + c[0] + (c[2] ? "" : " zero"), "", function () { openDrill(u.unit, c[0]); });
          b.dataset.kind = c[0];
          b.appendChild(el("b", "", String(c[2])));
          b.appendChild(el("span", "", c[1]));
          counts.appendChild(b);
        });
        row.appendChild(counts);
        root.appendChild(row);
      });
    }
    var red = data.units.reduce(function (n, u) { return n + u.red.length; }, 0);
    $("n-red").textContent = red;
    $("n-red").className = red ? "red" : "";
    if (drill) loadDrill();
  }

  function openDrill(unit, kind) { drill = { unit: unit, kind: kind }; loadDrill(); }

  function loadDrill() {
    if (!drill) return;
    api("GET", "/console/api/supervisor/board/" + drill.unit + "/" + drill.kind).then(function (data) {
      $("drill").hidden = false;
      $("drill-title").textContent = data.unit_name + " · " + DRILL[data.kind] + "（" + data.items.length + "）";
      draw($("drill-list"), "drill", data.items, function (t) {
        var li = el("li", "row" + (t.colour ? " " + t.colour : ""));
        li.dataset.number = t.number;
        li.appendChild(ticketHead(t));
        li.appendChild(el("p", "desc clamp", t.description));
        var due = "办理期限 " + (t.due_date || "—") + (t.times ? " · " + t.times + " 次" : "");
        li.appendChild(el("p", "due", due));
        li.onclick = function (ev) { if (ev.target.tagName !== "BUTTON") showTicket(t.number); };
        return li;
      }, "没有这类工单。");
    }).catch(fail);
  }

  // --- extension and termination requests (Art. 15)

  function renderRequest(t) {
    var li = el("li", "card");
    li.dataset.number = t.number;
    li.dataset.request = t.request;
    li.dataset.requestId = t.request_id;
    li.appendChild(ticketHead(t));
    var what = t.request === "extension" ? "申请延期 " + (t.days || "?") + " 个工作日" : "申请终止办理";
    var h = el("p", "request-title");
    h.appendChild(el("strong", "", unitName(t.unit_id)));
    h.appendChild(document.createTextNode(" " + what + " · " + when(t.asked_at)));
    li.appendChild(h);
    li.appendChild(field("理由", t.text || "—"));
    if (t.material) li.appendChild(field("材料", t.material));
    li.appendChild(field("当前期限", t.due_date || "—"));
    li.appendChild(el("p", "desc clamp", t.description));
    var note = el("input", "note");
    note.placeholder = "审批意见（不予批准时必填）"; note.maxLength = 500; note.dataset.keep = t.number + ":" + t.request + ":note";
    li.appendChild(note);
    var err = el("p", "error");
    var actions = el("div", "actions");
    var path = "/console/api/tickets/" + encodeURIComponent(t.number) + "/" + t.request + "/";
    actions.appendChild(button("primary approve", "批准", function () {
      // The decision names the request shown here: a request changed meanwhile is refused (409).
      api("POST", path + "approve", { request_id: t.request_id, note: note.value.trim() || null }).then(refresh).catch(function (e) { err.textContent = e.message; });
    }));
    actions.appendChild(button("secondary reject", "不予批准", function () {
      if (!note.value.trim()) { err.textContent = "请填写不予批准的理由。"; note.focus(); return; }
      api("POST", path + "reject", { request_id: t.request_id, note: note.value.trim() }).then(refresh).catch(function (e) { err.textContent = e.message; });
    }));
    li.appendChild(actions);
    li.appendChild(err);
    return li;
  }

  // --- re-handling after a dissatisfied rating (Art. 16)

  function renderRehandle(t) {
    var li = el("li", "card");
    li.dataset.number = t.number;
    li.appendChild(ticketHead(t));
    li.appendChild(el("p", "desc clamp", t.description));
    li.appendChild(field("承办单位", unitName(t.unit_id)));
    li.appendChild(field("办理结果", t.result || "—"));
    var said = "不满意" + (t.solved === false ? "，问题未解决" : t.solved === true ? "，问题已解决" : "") +
      (t.rating_note ? "：" + t.rating_note : "") + "（" + when(t.rated_at) + "，" + actorName(t.rated_by) + "）";
    li.appendChild(field("市民评价", said));
    var form = el("div", "decide");
    var dueLabel = el("label", "", "重办期限 ");
    var due = el("input", "due");
    due.type = "date"; due.value = t.suggested_due; due.dataset.keep = t.number + ":due";
    dueLabel.appendChild(due);
    form.appendChild(dueLabel);
    var note = el("input", "note");
    note.placeholder = "复核意见"; note.maxLength = 500; note.dataset.keep = t.number + ":rnote";
    form.appendChild(note);
    li.appendChild(form);
    var err = el("p", "error");
    var actions = el("div", "actions");
    var path = "/console/api/tickets/" + encodeURIComponent(t.number) + "/";
    actions.appendChild(button("primary rehandle", "退回单位重新办理", function () {
      api("POST", path + "rehandle", { due_date: due.value || null, note: note.value.trim() || null })
        .then(refresh).catch(function (e) { err.textContent = e.message; });
    }));
    actions.appendChild(button("secondary close", "复核后办结", function () {
      api("POST", path + "close", { note: note.value.trim() || null }).then(refresh).catch(function (e) { err.textContent = e.message; });
    }));
    li.appendChild(actions);
    li.appendChild(err);
    return li;
  }

  // --- blocked contacts (Art. 32)

  function renderBlocked(c) {
    var li = el("li", "card");
    li.dataset.contact = c.id;
    var head = el("div", "meta");
    head.appendChild(el("span", "badge", CHANNEL[c.channel] || c.channel));
    head.appendChild(el("strong", "", c.citizen));
    head.appendChild(el("span", "time", when(c.blocked_at)));
    li.appendChild(head);
    li.appendChild(field("理由", c.reason || "—"));
    li.appendChild(field("操作人", c.blocked_by || "—"));
    var err = el("p", "error");
    var actions = el("div", "actions");
    actions.appendChild(button("secondary unblock", "恢复受理", function () {
      api("POST", "/console/api/contacts/" + c.id + "/unblock").then(refresh).catch(function (e) { err.textContent = e.message; });
    }));
    li.appendChild(actions);
    li.appendChild(err);
    return li;
  }

  // Block or unblock a contact, from a ticket's trail or a conversation number.
  function contactBox(contact, after) {
    var box = el("div", "contact");
    var line = el("p");
    line.appendChild(el("span", "label", "联系人"));
    line.appendChild(el("span", "badge", CHANNEL[contact.channel] || contact.channel));
    line.appendChild(el("span", "value", " " + contact.citizen));
    if (contact.blocked) line.appendChild(el("span", "badge red", "已暂停受理"));
    box.appendChild(line);
    var err = el("p", "error");
    if (contact.blocked) {
      box.appendChild(field("暂停理由", (contact.reason || "—") + "（" + (contact.blocked_by || "") + "，" + when(contact.blocked_at) + "）"));
      box.appendChild(button("secondary unblock", "恢复受理", function () {
        api("POST", "/console/api/contacts/" + contact.id + "/unblock").then(after).catch(function (e) { err.textContent = e.message; });
      }));
    } else {
      var form = el("form", "block-form");
      var reason = el("input", "reason");
      reason.placeholder = "暂停受理理由（必填，如多次辱骂工作人员）"; reason.maxLength = 255; reason.required = true;
      reason.dataset.keep = "block:" + contact.id;
      form.appendChild(reason);
      var go = el("button", "danger", "暂停受理");
      go.type = "submit";
      form.appendChild(go);
      form.onsubmit = function (ev) {
        ev.preventDefault();
        api("POST", "/console/api/contacts/" + contact.id + "/block", { reason: reason.value.trim() })
          .then(after).catch(function (e) { err.textContent = e.message; });
      };
      box.appendChild(form);
    }
    box.appendChild(err);
    return box;
  }

  // --- a ticket's whole trail

  function eventDetail(e) {
    var d = e.data || {};
    var st = function (s) { return s ? STATUS[s.from] + " → " + STATUS[s.to] : ""; };
    switch (e.kind) {
      case "dispatch_proposed":
        return d.lead ? "建议主办 " + unitName(d.lead) + (d.cooperating && d.cooperating.length ? "，协办 " + d.cooperating.map(unitName).join("、") : "") +
          "；把握 " + Math.round((d.confidence || 0) * 100) + "%；" + (d.reason || "") + (d.automatic ? "（自动派单）" : "（转人工派单）")
          : (d.reason || "无建议");
      case "dispatched":
        return "主办 " + unitName(d.unit) + (d.cooperating && d.cooperating.length ? "，协办 " + d.cooperating.map(unitName).join("、") : "") +
          (d.due_date ? "；期限 " + d.due_date : "") + (d.reason ? "；" + d.reason : "");
      case "return": case "progress": case "result": case "citizen_message":
        return d.text || "";
      case "extension": return (d.days ? d.days + " 个工作日：" : "") + (d.text || "");
      case "termination": return (d.text || "") + (d.material ? "；材料：" + d.material : "");
      case "extension_approved": case "extension_rejected": case "termination_approved": case "termination_rejected":
        return (d.due_date ? "新期限 " + d.due_date + "；" : "") + (d.note || "");
      case "rating":
        return (LEVEL[d.level] || d.level) + (d.solved === false ? "，未解决" : d.solved === true ? "，已解决" : "") + (d.note ? "：" + d.note : "");
      case "supervision": return (METHOD[d.method] || d.method) + "：" + (d.note || "");
      case "rehandle": return (d.due_date ? "新期限 " + d.due_date : "") + (d.note ? "；" + d.note : "");
      case "close": return d.note || "";
      case "status_changed": return st(d.status);
      case "needs_supervisor": return d.proposal ? "系统建议 " + unitName(d.proposal.lead) : "已退回 " + (d.returns || "") + " 次";
      case "linked": return "与工单 " + (d.ticket || "") + " 反映同一问题";
      case "updated": return Object.keys(d).join("、");
      default: return "";
    }
  }

  function showTicket(number) {
    openTicket = number;
    return api("GET", "/console/api/supervisor/tickets/" + encodeURIComponent(number)).then(function (t) {
      if (openTicket !== number) return;
      var body = $("d-body");
      var state = keepState(body);
      $("detail").hidden = false;
      document.body.classList.add("detail-open");
      $("d-number").textContent = "工单 " + t.number;
      body.textContent = "";
      var head = ticketHead(t);
      head.removeChild(head.firstChild);
      body.appendChild(head);
      body.appendChild(field("承办单位", unitName(t.unit_id)));
      body.appendChild(field("办理期限", t.due_date || "—"));
      body.appendChild(el("p", "desc", t.description));
      if (t.location) body.appendChild(field("地点", t.location));
      if (t.contact_name || t.contact_phone) body.appendChild(field("联系方式", [t.contact_name, t.contact_phone].filter(Boolean).join(" ") + (t.anonymous ? "（要求匿名）" : "")));
      if (t.contact) body.appendChild(contactBox(t.contact, function () { showTicket(number); refresh(); }));
      body.appendChild(el("h3", "", "办理轨迹"));
      var trail = el("ol", "trail");
      t.events.forEach(function (e) {
        var li = el("li", "ev " + e.kind);
        var top = el("div", "ev-head");
        top.appendChild(el("strong", "", EVENT[e.kind] || e.kind));
        top.appendChild(el("span", "who", actorName(e.actor)));
        top.appendChild(el("span", "time", when(e.at)));
        li.appendChild(top);
        var text = eventDetail(e);
        if (text) li.appendChild(el("p", "ev-text", text));
        trail.appendChild(li);
      });
      body.appendChild(trail);
      var form = el("form", "supervise-form");
      form.appendChild(el("h3", "", "督办意见"));
      var method = el("select", "method");
      method.dataset.keep = number + ":method";
      Object.keys(METHOD).forEach(function (k) { var o = el("option", "", METHOD[k]); o.value = k; method.appendChild(o); });
      method.value = "system";
      form.appendChild(method);
      var note = el("textarea", "note");
      note.rows = 3; note.maxLength = 1000; note.required = true; note.placeholder = "督办意见，如：已超期，请于今日内答复市民";
      note.dataset.keep = number + ":snote";
      form.appendChild(note);
      var err = el("p", "error");
      var go = el("button", "primary", "提交督办意见");
      go.type = "submit";
      form.appendChild(go);
      form.appendChild(err);
      form.onsubmit = function (ev) {
        ev.preventDefault();
        api("POST", "/console/api/tickets/" + encodeURIComponent(number) + "/supervise", { method: method.value, note: note.value.trim() })
          .then(function () { note.value = ""; return showTicket(number); }).catch(function (e) { err.textContent = e.message; });
      };
      body.appendChild(form);
      restoreState(body, state);
      if (state.values[number + ":snote"] === undefined) method.value = "system";
    }).catch(fail);
  }

  function closeTicket() {
    openTicket = null;
    $("detail").hidden = true;
    document.body.classList.remove("detail-open");
  }

  // --- loading

  function refresh() {
    clearError();
    return Promise.all([
      api("GET", "/console/api/supervisor/queue").then(function (d) {
        $("n-queue").textContent = d.items.length;
        draw($("queue"), "queue", d.items, renderQueueItem, "没有等待人工派单的工单。系统无法确定承办单位的工单会出现在这里。");
      }),
      api("GET", "/console/api/supervisor/board").then(renderBoard),
      api("GET", "/console/api/supervisor/requests").then(function (d) {
        $("n-requests").textContent = d.items.length;
        draw($("requests"), "requests", d.items, renderRequest, "没有待审批的延期或终止申请。");
      }),
      api("GET", "/console/api/supervisor/rehandling").then(function (d) {
        $("n-rehandling").textContent = d.items.length;
        draw($("rehandling"), "rehandling", d.items, renderRehandle, "没有等待复核的不满意评价。");
      }),
      api("GET", "/console/api/supervisor/blocked").then(function (d) {
        $("n-blocked").textContent = d.items.length;
        draw($("blocked"), "blocked", d.items, renderBlocked, "没有被暂停受理的联系人。可在工单轨迹或下方按会话编号暂停受理。");
      })
    ]).catch(function (e) { if (e.status !== 401 && e.status !== 403) fail(e); });
  }

  var pending = null;
  function refreshSoon() {
    if (pending) return;
    pending = setTimeout(function () {
      pending = null;
      refresh();
      if (openTicket) showTicket(openTicket);
      if (lookup) lookup().catch(fail);
    }, 300);
  }

  var socket = null;
  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(proto + location.host + "/console/api/ws");
    socket.onopen = function () { $("live").classList.add("on"); $("live").title = "实时更新已连接"; };
    socket.onmessage = function (m) {
      var ev;
      try { ev = JSON.parse(m.data); } catch (e) { return; }
      if (LIVE_EVENTS[ev.type]) refreshSoon();
    };
    socket.onclose = function (e) {
      $("live").classList.remove("on"); $("live").title = "实时更新已断开，每10秒刷新";
      socket = null;
      if (e.code === 4401) { showLogin(); return; }  // the session ended (logout, expiry): log in again
      if (!$("app").hidden) setTimeout(connect, 3000);
    };
  }

  var timer = null;
  var who = "";
  function start(me) {
    csrf = me.csrf;
    who = me.display_name;
    $("me").textContent = me.display_name + "（" + me.username + "）";
    return api("GET", "/console/api/supervisor/units").then(function (d) {
      units = {};
      d.units.forEach(function (u) { units[u.id] = u; });
      $("login").hidden = true; $("forbidden").hidden = true; $("app").hidden = false;
      lastJson = {};
      refresh();
      if (!socket) connect();
      if (!timer) timer = setInterval(refresh, POLL_MS);
    });
  }

  function stop() {
    if (timer) { clearInterval(timer); timer = null; }
    if (socket) { var s = socket; socket = null; s.onclose = null; s.close(); }
  }

  function showLogin() { stop(); $("app").hidden = true; $("forbidden").hidden = true; $("login").hidden = false; }

  function showForbidden() {
    stop();
    $("app").hidden = true; $("login").hidden = true; $("forbidden").hidden = false;
    $("forbidden-text").textContent = "督办台仅供值班长使用。您当前登录的账号" + (who ? "（" + who + "）" : "") +
      "没有值班长权限，如需使用请联系管理员开通，或返回坐席工作台。";
  }

  function selectTab(name) {
    document.querySelectorAll(".tabs button").forEach(function (b) {
      b.classList.toggle("active", b.dataset.tab === name);
      b.setAttribute("aria-selected", b.dataset.tab === name ? "true" : "false");
    });
    document.querySelectorAll(".pane").forEach(function (p) { p.hidden = p.id !== "tab-" + name; });
  }

  document.querySelectorAll(".tabs button").forEach(function (b) {
    b.onclick = function () { selectTab(b.dataset.tab); };
  });
  $("d-close").onclick = closeTicket;
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape" && openTicket) closeTicket(); });

  var lookup = null;  // the contact shown for a conversation number, redrawn when contacts change
  $("conv-lookup").onsubmit = function (ev) {
    ev.preventDefault();
    var id = $("conv-id").value.trim();
    var show = lookup = function () {
      return api("GET", "/console/api/supervisor/conversations/" + encodeURIComponent(id) + "/contact").then(function (c) {
        // Redrawn on every live change: a reason being typed survives it, as in the lists.
        var box = $("conv-contact");
        var state = keepState(box);
        box.textContent = "";
        box.appendChild(el("p", "hint", "会话 " + id + " 的联系人："));
        box.appendChild(contactBox(c, function () { show(); refresh(); }));
        restoreState(box, state);
      });
    };
    show().catch(function (e) { lookup = null; $("conv-contact").textContent = e.message; });
  };

  $("login-form").onsubmit = function (ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/console/api/login", { username: $("username").value, password: $("password").value })
      .then(start).catch(function (e) { if (e.status !== 403) $("login-error").textContent = e.message; });
  };
  var logout = function () {
    api("POST", "/console/api/logout").then(showLogin, showLogin);
  };
  $("logout").onclick = logout;
  $("forbidden-logout").onclick = logout;

  // A conversation's contact can be opened directly: /console/supervisor#conversation=123 (from the console).
  var m = /conversation=(\d{1,18})/.exec(location.hash);
  if (m) { $("conv-id").value = m[1]; selectTab("blocked"); }
  var t = /ticket=(\d{8}-\d{6})/.exec(location.hash);

  api("GET", "/console/api/me").then(start).then(function () {
    if (m) $("conv-lookup").requestSubmit();
    if (t) showTicket(t[1]);
  }).catch(function (e) { if (e.status === 401) showLogin(); else if (e.status !== 403) fail(e); });
})();
