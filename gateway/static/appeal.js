"use strict";
(async () => {
  const { el, api } = QQ;
  const me = QQ.header("ledger");
  const id = Number(new URLSearchParams(location.search).get("id"));
  const out = document.getElementById("out");
  const ACTION = { assign: "交办", accept: "签收", reply: "答复", transfer: "转办", return: "退回", extend: "申请延期",
                   approve_extension: "批准延期", reject_extension: "驳回延期", instruct: "领导批示", feedback: "评价", reopen: "重新办理",
                   create: "受理" };
  // Which actions each role may ask for (docs/api.md, GW-2); the service decides the rest (409/403).
  const STAFF = ["assign", "transfer", "extend", "approve_extension", "reject_extension", "instruct", "reopen"];
  const BY_ROLE = { taskforce: STAFF, admin: STAFF, department: ["accept", "reply", "transfer", "return", "extend"],
                    enterprise: ["feedback"] };
  // What each action's form asks for (the API's bodies); select = a reference list.
  const FIELDS = {
    assign: [["department", "牵头部门", "departments", true], ["tier", "等级", "tiers"], ["note", "说明"]],
    accept: [["note", "说明"]], reply: [["content", "答复内容", null, true, "textarea"]],
    transfer: [["department", "转至部门", "departments", true], ["reason", "理由", null, true]],
    return: [["reason", "理由", null, true]],
    extend: [["days", "延期工作日", "number", true], ["reason", "理由", null, true]],
    approve_extension: [["note", "说明"]], reject_extension: [["note", "说明"]],
    instruct: [["content", "批示内容", null, true, "textarea"]],
    feedback: [["rating", "满意度（1–5）", "number", true], ["comment", "评价"]],
    reopen: [["reason", "理由", null, true]],
  };
  let ref = {}, depts = {};
  try { ref = await QQ.reference(); depts = await QQ.names("departments"); } catch (e) { QQ.showError(out, e); }
  const allowed = (BY_ROLE[me.role] || []).filter(a => (ref.actions || []).includes(a));
  // the task force's extension is granted at once; a department's asks for approval
  const label = a => a === "extend" && (me.role === "taskforce" || me.role === "admin") ? "延期（直接批准）" : ACTION[a];

  function facts(a) {
    const rows = [["编号", "#" + a.id], ["标题", a.title], ["企业", `${a.enterprise_name || ""} ${a.enterprise_code}`],
      ["状态", QQ.STATUS[a.status] || a.status], ["等级", QQ.TIER[a.tier] || a.tier],
      ["牵头部门", depts[a.lead_department] || a.lead_department || "—"],
      ["协办部门", (a.co_departments || []).map(d => depts[d] || d).join("、") || "—"],
      ["受理时间", QQ.fmt(a.received_at)], ["办理时限", QQ.fmt(a.due_at)],
      ["是否超期", a.overdue ? "超期" : "未超期"], ["督办", a.escalation_step || "—"], ["内容", a.content]];
    if (a.reply_content) rows.push(["答复", a.reply_content]);
    document.getElementById("facts").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    document.getElementById("h-appeal").textContent = `诉求 #${a.id}`;
    document.getElementById("h-appeal").append(" ", a.overdue ? el("span", { class: "badge overdue" }, `超期·${QQ.TIER[a.tier] || a.tier}`) : "");
  }
  function timeline(a) {
    document.getElementById("timeline").replaceChildren(...(a.history || []).map(h =>
      el("li", {}, el("time", { datetime: h.at }, QQ.fmt(h.at)),
        el("strong", {}, ACTION[h.action] || h.action), ` · ${h.actor}`,
        h.from_status ? ` · ${QQ.STATUS[h.from_status] || h.from_status} → ${QQ.STATUS[h.to_status] || h.to_status}` : ` · ${QQ.STATUS[h.to_status] || h.to_status}`,
        h.note ? el("div", {}, h.note) : null)));
  }
  function openForm(action) {
    const f = el("form", { class: "card", "aria-label": label(action) });
    for (const [name, label, kind, required, widget] of FIELDS[action]) {
      let input;
      if (kind === "departments" || kind === "tiers") {
        const list = kind === "departments" ? ref.departments : ref.tiers.map(t => ({ code: t.code, name: QQ.TIER[t.code] || t.code }));
        input = el("select", { name, required }, required ? null : el("option", { value: "" }, "（不变）"),
          list.map(x => el("option", { value: x.code }, x.name)));
      } else if (widget === "textarea") input = el("textarea", { name, required, rows: 3 });
      else input = el("input", { name, required, type: kind === "number" ? "number" : "text", min: kind === "number" ? 1 : null });
      f.append(el("label", {}, label, input));
    }
    f.append(el("p", {}, el("button", { type: "submit" }, "提交：" + ACTION[action]), " ",
      el("button", { type: "button", class: "secondary", onclick: () => f.remove() }, "取消")));
    f.addEventListener("submit", async ev => {
      ev.preventDefault();
      const body = {};
      for (const x of f.elements) if (x.name && x.value !== "") body[x.name] = x.type === "number" ? Number(x.value) : x.value;
      try {
        const a = await api(`/api/v1/appeals/${id}/${action}`, { method: "POST", body });
        out.replaceChildren(el("div", { class: "msg ok", role: "status" }, `已${ACTION[action]}`));
        f.remove(); show(a);
      } catch (e) { QQ.showError(out, e); }
    });
    document.getElementById("form").replaceChildren(f);
    f.querySelector("input, select, textarea, button").focus();
  }
  function show(a) {
    facts(a); timeline(a);
    const box = document.getElementById("actions");
    box.replaceChildren(...allowed.map(act => el("button", { type: "button", "data-action": act, onclick: () => openForm(act) }, label(act))));
    if (!allowed.length) box.replaceChildren("您的角色对此诉求没有可办理的操作");
  }
  try { show(await api(`/api/v1/appeals/${id}`)); }
  catch (e) { QQ.showError(out, e); }
})();
