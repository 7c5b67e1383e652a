// Handling units' portal. Every citizen-supplied string is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var csrf = "";
  var me = null;
  var current = null;
  var uploaded = [];
  var $ = function (id) { return document.getElementById(id); };
  var KIND = {
    created: "工单登记", dispatch_proposed: "派单建议", dispatched: "派单", accept: "受理", "return": "退回",
    progress: "办理进展", result: "办理结果", extension: "申请延期", extension_approved: "延期申请已批准",
    extension_rejected: "延期申请未批准", termination: "申请终止办理", termination_approved: "终止办理已批准",
    termination_rejected: "终止办理申请未批准", rating: "市民评价", status_changed: "状态变更", updated: "工单信息修改",
    rehandle: "退回重办", close: "办结", supervision: "督办", needs_supervisor: "转值班长派单", linked: "关联工单（并单）",
    citizen_message: "市民补充", citizen_media: "市民补充图片", media_text: "市民图片中的文字", repeat: "市民再次反映"
  };
  var STATUS = { open: "待派单", dispatched: "已派单", in_progress: "办理中", resolved: "已办结，待回访", closed: "已办结", terminated: "已终止办理" };
  var TYPE = { consultation: "咨询", help: "求助", complaint: "投诉", report: "举报", suggestion: "意见建议" };
  var CHANNEL = { web: "网页", wechat: "微信", email: "邮件", ivr: "电话", telegram: "Telegram", api: "接口", console: "坐席" };
  var RATING = { satisfied: "满意", basically_satisfied: "基本满意", dissatisfied: "不满意" };
  var METHOD = { phone: "电话督办", system: "系统督办", written: "书面督办", on_site: "现场督办" };
  var ACTION = {
    accept: { label: "受理", cls: "" },
    progress: { label: "填写进展", cls: "", title: "办理进展", text: "进展情况", files: true },
    result: { label: "答复办理结果", cls: "", title: "办理结果（将告知市民并请其评价）", text: "办理结果", files: true },
    "return": { label: "退回", cls: "warn", title: "退回（非本单位职责）", text: "退回理由" },
    extension: { label: "申请延期", cls: "warn", title: "申请延长办理期限（《办法》第十五条第（四）项）", text: "延期理由", days: true },
    termination: { label: "申请终止办理", cls: "danger", title: "申请终止办理（《办法》第十五条第（五）（六）项）", text: "终止理由", material: true, files: true }
  };

  function api(method, path, body, raw) {
    var opts = { method: method, headers: {}, credentials: "same-origin" };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = csrf;
    if (raw) { opts.body = raw; } else if (body) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.json().then(function (data) {
        if (r.status === 401 && path !== "/unit/api/login") { showLogin(); }
        if (!r.ok) { var e = new Error((data.error && data.error.message) || "操作失败，请重试。"); e.status = r.status; throw e; }
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

  // Times in the hotline's time zone (the deadlines' days), whatever the device is set to.
  function when(iso) {
    var parts = {};
    new Intl.DateTimeFormat("en-CA", { timeZone: (me && me.timezone) || "Asia/Shanghai", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" })
      .formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
    return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
  }

  function dueText(t) {
    if (!t.due_date) return "未设办理期限";
    if (t.colour === "red") return "已超期（应于 " + t.due_date + " 前办结）";
    if (t.colour === "yellow") return "即将到期：" + t.due_date;
    return "办理期限：" + t.due_date;
  }

  function showLogin() { $("app").hidden = true; $("login").hidden = false; }

  function showApp(data) {
    me = data; csrf = data.csrf;
    $("unit-name").textContent = data.unit_name;
    $("me").textContent = data.display_name + "（" + data.role_zh + "）";
    $("login").hidden = true; $("app").hidden = false;
    loadList(); loadKb(true);
  }

  // --- tickets

  function loadList() {
    var params = new URLSearchParams();
    if ($("status").value) params.set("status", $("status").value);
    if ($("q").value.trim()) params.set("q", $("q").value.trim());
    return api("GET", "/unit/api/tickets?" + params.toString()).then(function (data) {
      var list = $("list");
      list.textContent = "";
      $("count").textContent = "共 " + data.total + " 件" + (data.total > data.items.length ? "（显示前 " + data.items.length + " 件）" : "");
      if (!data.items.length) {
        list.appendChild(el("li", "empty", $("q").value.trim() || $("status").value ? "没有符合条件的工单，请调整筛选条件。" : "目前没有派给本单位的工单。"));
        return;
      }
      data.items.forEach(function (t) {
        var li = el("li", t.colour || "");
        li.dataset.number = t.number;
        if (current && current.number === t.number) li.classList.add("active");
        var meta = el("div", "meta");
        meta.appendChild(el("span", "num", t.number));
        meta.appendChild(el("span", "badge " + t.status, t.status_zh));
        var due = el("span", "due-tag " + (t.colour || ""), t.due_date ? (t.colour === "red" ? "超期 " : "期限 ") + t.due_date : "");
        meta.appendChild(due);
        li.appendChild(meta);
        li.appendChild(el("div", "text", t.description));
        li.addEventListener("click", function () { openTicket(t.number); });
        list.appendChild(li);
      });
    }).catch(function (e) { $("count").textContent = e.message; });
  }

  function actorName(actor) {
    if (actor === "system") return "系统";
    if (actor === "citizen") return "市民";
    if (actor === "bot") return "智能客服";
    var parts = actor.split(":");
    if (parts[0] === "agent") return "热线坐席" + (parts[1] ? " " + parts[1] : "");
    if (parts[0] === "unit") return ((me.units || {})[parts[1]] || parts[1]) + (parts[2] ? " · " + parts[2] : "");
    return actor;
  }

  function fileNode(f, href) {
    var a = el("a", "", f.filename || ("附件" + f.id));
    a.href = href || "/unit/api/files/" + f.id;
    a.target = "_blank"; a.rel = "noopener";
    if ((f.content_type || "").indexOf("image/") === 0) {
      var img = el("img"); img.src = a.href; img.alt = f.filename || "图片";
      a.textContent = ""; a.appendChild(img);
    }
    return a;
  }

  function eventBody(e) {
    var d = e.data || {};
    var lines = [];
    if (d.text) lines.push(d.text);
    if (d.days) lines.push("申请延长 " + d.days + " 个工作日");
    if (d.material) lines.push("材料：" + d.material);
    if (d.note) lines.push("意见：" + d.note);
    if (d.method) lines.push(METHOD[d.method] || d.method);
    if (d.level) lines.push(RATING[d.level] || d.level);
    if (e.kind === "dispatched" && d.unit) lines.push("承办单位：" + ((me.units || {})[d.unit] || d.unit) + (d.due_date ? "，办理期限 " + d.due_date : ""));
    if (e.kind !== "dispatched" && d.due_date) lines.push("办理期限：" + d.due_date);
    if (d.reason && typeof d.reason === "string") lines.push(d.reason);
    if (d.status && d.status.to) lines.push((STATUS[d.status.from] || d.status.from) + " → " + (STATUS[d.status.to] || d.status.to));
    if (d.ticket) lines.push("关联工单：" + d.ticket);
    if (d.proposal && d.proposal.reason) lines.push(d.proposal.reason);
    return lines.join("\n");
  }

  function openTicket(number) {
    return api("GET", "/unit/api/tickets/" + encodeURIComponent(number)).then(render).catch(function (e) {
      var detail = $("detail");
      detail.textContent = "";
      detail.appendChild(el("p", "error", e.message));
    });
  }

  function render(t) {
    current = t; uploaded = [];
    Array.prototype.forEach.call(document.querySelectorAll("#list li"), function (li) {
      li.classList.toggle("active", li.dataset.number === t.number);
    });
    $("tickets-view").classList.add("showing");
    var node = document.importNode($("detail-tpl").content, true);
    node.querySelector(".number").textContent = t.number;
    var badge = node.querySelector(".status");
    badge.textContent = t.status_zh; badge.classList.add(t.status);
    var due = node.querySelector(".due");
    due.textContent = dueText(t);
    if (t.colour) due.classList.add(t.colour);
    node.querySelector(".description").textContent = t.description;
    var facts = node.querySelector(".facts");
    [["诉求类型", TYPE[t.request_type] || "未分类"], ["类别", t.category || "未分类"], ["区县", t.district || "未注明"],
     ["地点", t.location || "未注明"], ["来源", CHANNEL[t.channel] || t.channel], ["登记时间", when(t.created_at)]]
      .forEach(function (f) { facts.appendChild(el("dt", "", f[0])); facts.appendChild(el("dd", "", f[1])); });
    if (t.citizen_media.length) {
      var media = node.querySelector(".citizen-media");
      media.hidden = false;
      t.citizen_media.forEach(function (m) {
        var name = m.filename || ({ image: "图片", voice: "录音", video: "视频" }[m.kind] || "文件") + m.id;
        media.querySelector(".att").appendChild(fileNode({ id: m.id, filename: name, content_type: m.content_type },
          "/unit/api/tickets/" + encodeURIComponent(t.number) + "/citizen-media/" + m.id));
        if (m.read_text) media.querySelector(".att").appendChild(el("div", "read-text", name + "中的文字（自动识别，以原件为准）：" + m.read_text));
        if (m.location) media.querySelector(".att").appendChild(el("div", "read-text", name + "拍摄位置：" +
          (m.location.latitude !== undefined ? m.location.latitude.toFixed(5) + ", " + m.location.longitude.toFixed(5) : "") +
          (m.location.district ? "（" + (m.location.approximate ? "约在" : "") + m.location.district + "）" : "")));
      });
    }
    var contact = node.querySelector(".contact-text");
    var reveal = node.querySelector(".reveal");
    if (t.anonymous) {
      contact.textContent = "诉求人要求匿名，请通过热线答复。"; reveal.hidden = true;
    } else if (!t.contact_phone && !t.contact_name) {
      contact.textContent = "诉求人未留联系方式。"; reveal.hidden = true;
    } else {
      contact.textContent = "联系人：" + (t.contact_name || "未留姓名") + "　电话：" + (t.contact_phone || "未留电话");
      reveal.addEventListener("click", function () {
        api("POST", "/unit/api/tickets/" + encodeURIComponent(t.number) + "/contact").then(function (c) {
          contact.textContent = "联系人：" + (c.contact_name || "未留姓名") + "　电话：" + (c.contact_phone || "未留电话");
          reveal.hidden = true;
        }).catch(function (e) { contact.textContent = e.message; });
      });
    }
    var buttons = node.querySelector(".buttons");
    node.querySelector(".none").hidden = t.actions.length > 0;
    var form = node.querySelector(".action-form");
    var error = node.querySelector(".actions .error");
    t.actions.forEach(function (a) {
      var spec = ACTION[a];
      var b = el("button", spec.cls, spec.label);
      b.type = "button"; b.dataset.action = a;
      b.addEventListener("click", function () {
        error.textContent = "";
        if (a === "accept") { submit(a, {}, error); return; }
        openForm(form, a);
      });
      buttons.appendChild(b);
    });
    if (t.head_only.length && t.status === "in_progress") {
      node.querySelector(".actions").appendChild(el("p", "hint", "延期和终止办理申请须由单位负责人提交。"));
    }
    form.querySelector(".cancel").addEventListener("click", function () { form.hidden = true; });
    form.querySelector("input[type=file]").addEventListener("change", function (ev) { upload(ev.target, form, error); });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var a = form.dataset.action;
      var body = { text: form.elements.text.value.trim() };
      if (a === "extension") body.days = parseInt(form.elements.days.value, 10);
      if (a === "termination" && form.elements.material.value.trim()) body.material = form.elements.material.value.trim();
      if (uploaded.length) body.files = uploaded.map(function (f) { return f.id; });
      submit(a, body, error);
    });
    if (t.files.length) {
      node.querySelector(".files-card").hidden = false;
      var files = node.querySelector(".files");
      t.files.forEach(function (f) { var li = el("li"); li.appendChild(fileNode(f)); files.appendChild(li); });
    }
    var trail = node.querySelector(".trail");
    t.events.forEach(function (e) {
      var li = el("li", e.actor.indexOf("unit:") === 0 ? "unit" : "");
      li.appendChild(el("div", "when", when(e.at) + " · " + actorName(e.actor)));
      li.appendChild(el("div", "what", KIND[e.kind] || e.kind));
      var body = eventBody(e);
      if (body) li.appendChild(el("div", "body", body));
      if (e.data && e.data.files && e.data.files.length) {
        var att = el("div", "att");
        e.data.files.forEach(function (f) { att.appendChild(fileNode(f)); });
        li.appendChild(att);
      }
      trail.appendChild(li);
    });
    node.querySelector(".back").addEventListener("click", function () {
      $("tickets-view").classList.remove("showing"); current = null; loadList();
    });
    var detail = $("detail");
    detail.textContent = "";
    detail.appendChild(node);
    detail.scrollTop = 0;
  }

  function openForm(form, a) {
    var spec = ACTION[a];
    form.dataset.action = a;
    form.hidden = false;
    uploaded = [];
    form.querySelector(".uploads").textContent = "";
    form.querySelector(".form-title").textContent = spec.title;
    form.querySelector(".text-label").textContent = spec.text;
    form.elements.text.value = "";
    form.querySelector(".f-days").hidden = !spec.days;
    form.querySelector(".f-material").hidden = !spec.material;
    form.querySelector(".f-files").hidden = !spec.files;
    form.elements.text.focus();
  }

  function upload(input, form, error) {
    var list = form.querySelector(".uploads");
    Array.prototype.forEach.call(input.files, function (file) {
      var data = new FormData();
      data.append("file", file, file.name);
      var li = el("li", "", file.name + "（上传中…）");
      list.appendChild(li);
      api("POST", "/unit/api/tickets/" + encodeURIComponent(current.number) + "/files", null, data).then(function (f) {
        uploaded.push(f);
        li.textContent = "✓ " + (f.filename || file.name);
      }).catch(function (e) { li.textContent = file.name + "：" + e.message; error.textContent = e.message; });
    });
    input.value = "";
  }

  function submit(action, body, error) {
    var number = current.number;
    return api("POST", "/unit/api/tickets/" + encodeURIComponent(number) + "/" + action, body).then(function (t) {
      if (t.returned) {
        $("detail").textContent = "";
        $("detail").appendChild(el("p", "hint", "工单 " + number + " 已退回热线重新派单。"));
        current = null;
        $("tickets-view").classList.add("showing");
      } else {
        render(t);
      }
      loadList();
    }).catch(function (e) { error.textContent = e.message; });
  }

  // --- knowledge base

  function loadKb(quiet) {
    return api("GET", "/unit/api/kb").then(function (data) {
      $("review-days").textContent = data.review_days;
      var late = data.items.filter(function (i) { return i.review_state !== "ok"; }).length;
      $("kb-alert").hidden = late === 0;
      if (quiet) return;
      var list = $("kb-list");
      list.textContent = "";
      if (!data.items.length) { list.appendChild(el("li", "empty", "知识库中暂无本单位负责维护的条目。")); return; }
      data.items.forEach(function (i) { list.appendChild(kbItem(i)); });
    });
  }

  function kbItem(i) {
    var li = el("li", i.review_state);
    li.dataset.key = i.id;
    li.appendChild(el("div", "q", i.question));
    var answer = el("div", "a", i.answer);
    li.appendChild(answer);
    var meta = el("div", "meta");
    meta.appendChild(el("span", "state " + i.review_state, i.review_state_zh));
    meta.appendChild(el("span", "", i.review_due ? "下次核对：" + i.review_due : "尚未核对"));
    if (i.reviewed_at) meta.appendChild(el("span", "", "上次核对：" + i.reviewed_at));
    meta.appendChild(el("span", "", "第 " + i.version + " 版 · " + i.id));
    li.appendChild(meta);
    var ops = el("div", "ops");
    var ok = el("button", "", "确认无误"); ok.type = "button"; ok.className = "confirm";
    var edit = el("button", "ghost", "修改答复"); edit.type = "button"; edit.className = "ghost edit";
    ops.appendChild(ok); ops.appendChild(edit);
    li.appendChild(ops);
    var form = el("form"); form.hidden = true;
    var area = el("textarea"); area.rows = 5; area.maxLength = 4000; area.value = i.answer;
    var save = el("button", "", "保存为新版本"); save.type = "submit";
    var cancel = el("button", "ghost", "取消"); cancel.type = "button";
    form.appendChild(area);
    var row = el("div", "ops"); row.appendChild(save); row.appendChild(cancel); form.appendChild(row);
    li.appendChild(form);
    var error = el("p", "error"); li.appendChild(error);
    var replace = function (data) { li.parentNode.replaceChild(kbItem(data), li); loadKb(true); };
    ok.addEventListener("click", function () {
      api("POST", "/unit/api/kb/" + encodeURIComponent(i.id) + "/confirm").then(replace)
        .catch(function (e) { error.textContent = e.message; });
    });
    edit.addEventListener("click", function () { form.hidden = false; area.focus(); });
    cancel.addEventListener("click", function () { form.hidden = true; });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      api("POST", "/unit/api/kb/" + encodeURIComponent(i.id) + "/revise", { answer: area.value }).then(replace)
        .catch(function (e) { error.textContent = e.message; });
    });
    return li;
  }

  // --- wiring

  Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (b) {
    b.addEventListener("click", function () {
      Array.prototype.forEach.call(document.querySelectorAll(".tab"), function (o) { o.classList.toggle("active", o === b); });
      var kb = b.dataset.tab === "kb";
      $("kb-view").hidden = !kb; $("tickets-view").hidden = kb;
      if (kb) loadKb(false); else loadList();
    });
  });
  $("filter").addEventListener("submit", function (ev) { ev.preventDefault(); loadList(); });
  $("status").addEventListener("change", loadList);
  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("login-error").textContent = "";
    api("POST", "/unit/api/login", { username: $("username").value, password: $("password").value })
      .then(function () { return api("GET", "/unit/api/me"); })
      .then(showApp)
      .catch(function (e) { $("login-error").textContent = e.message; });
  });
  $("logout").addEventListener("click", function () {
    api("POST", "/unit/api/logout").then(showLogin, showLogin);
  });
  api("GET", "/unit/api/me").then(showApp, showLogin);
})();
