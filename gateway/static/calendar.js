"use strict";
(async () => {
  const { el, api } = QQ;
  const me = QQ.header("calendar");
  const out = document.getElementById("out");
  const nav = document.getElementById("nav"), file = document.getElementById("file");
  const QUIET_FROM = 10, QUIET_TO = 25;  // INS-2: the 10th to the 25th of each month (宁静日)
  const STATUS = { pending_approval: "待审批", approved: "已批准", rejected: "已驳回", cancelled: "已取消", merged: "已合并", completed: "已完成" };
  let depts = {};
  try { depts = await QQ.names("departments"); } catch (e) { QQ.showError(out, e); }
  const staff = me.role === "taskforce" || me.role === "admin";
  if (staff) {
    document.getElementById("dept-label").hidden = false;
    Object.entries(depts).filter(([c]) => c !== "taskforce")
      .forEach(([c, n]) => file.department.append(el("option", { value: c }, n)));
    file.department.value = "market";
  }
  nav.month.value = new URLSearchParams(location.search).get("month") || QQ.month();

  async function all(query) {
    let items = [], cursor = null;
    do {
      const q = new URLSearchParams(query); q.set("limit", "500"); if (cursor !== null) q.set("cursor", cursor);
      const page = await api("/api/v1/inspections?" + q);
      items = items.concat(page.items || page); cursor = page.next_cursor ?? null;
    } while (cursor !== null && items.length < 2000);
    return items;
  }
  async function draw() {
    const month = nav.month.value;
    const [y, m] = month.split("-").map(Number);
    const cal = document.getElementById("cal");
    cal.replaceChildren(...["一", "二", "三", "四", "五", "六", "日"].map(d => el("div", { class: "dow", role: "columnheader" }, "周" + d)));
    let visits = [];
    try { visits = await all({ month }); out.replaceChildren(); } catch (e) { QQ.showError(out, e); }
    const perEnterprise = {};
    visits.filter(v => !["cancelled", "merged", "rejected"].includes(v.status))
      .forEach(v => { perEnterprise[v.enterprise_code] = (perEnterprise[v.enterprise_code] || 0) + 1; });
    // key enterprises (重点企业): their monthly cap (INS-3) from each one's yearly plan
    const caps = {};
    await Promise.all([...new Set(visits.filter(v => v.key_enterprise).map(v => v.enterprise_code))].map(code =>
      api(`/api/v1/enterprises/${code}/plan?year=${y}`).then(p => { caps[code] = p.monthly_cap; }).catch(() => {})));
    const first = new Date(Date.UTC(y, m - 1, 1)), days = new Date(Date.UTC(y, m, 0)).getUTCDate();
    for (let i = 0; i < (first.getUTCDay() + 6) % 7; i++) cal.append(el("div", { "aria-hidden": "true" }));
    for (let d = 1; d <= days; d++) {
      const iso = `${month}-${String(d).padStart(2, "0")}`;
      const quiet = d >= QUIET_FROM && d <= QUIET_TO;
      const cell = el("div", { class: "day" + (quiet ? " quiet" : ""), role: "gridcell", "data-date": iso,
                               "aria-label": `${m}月${d}日${quiet ? "（安静期）" : ""}` }, el("div", { class: "d" }, d));
      visits.filter(v => v.planned_date === iso).forEach(v => {
        const n = perEnterprise[v.enterprise_code] || 0, cap = caps[v.enterprise_code];
        const near = v.key_enterprise && cap && n >= cap - 1;  // at or one short of its cap
        const key = v.key_enterprise ? `★${cap ? `${n}/${cap}` : n}${near ? "!" : ""} ` : "";
        cell.append(el("span", { class: `visit ${v.entry_code}` + (near ? " near-cap" : ""), "data-id": v.id,
          title: `${depts[v.department] || v.department} · ${v.enterprise_name} · ${STATUS[v.status] || v.status} · ${v.entry_code === "green" ? "绿码" : "红码"}${near ? " · 接近本月检查上限" : ""}` },
          `${key}${depts[v.department] || v.department}`));
      });
      cal.append(cell);
    }
  }
  function predicted() {
    const rules = [];
    const date = file.planned_date.value;
    if (date) {
      const d = Number(date.slice(8, 10));
      if (d >= QUIET_FROM && d <= QUIET_TO && !file.exempt_category.value && file.kind.value !== "emergency")
        rules.push(["INS-2", `${date} 在安静期（每月${QUIET_FROM}–${QUIET_TO}日）内，且未申请豁免：须专班主要领导审批`]);
    }
    if (file.kind.value === "emergency" && !file.reason.value) rules.push(["—", "应急检查须填写事由"]);
    return rules;
  }
  function showPrecheck() {
    const rules = predicted();
    document.getElementById("precheck").replaceChildren(...(rules.length ? [el("div", { class: "msg warn", role: "status" },
      el("strong", {}, "提交前检查：此计划将违反"), el("ul", {}, rules.map(([r, t]) => el("li", { "data-rule": r }, `${r} ${t}`))))] : []));
  }
  file.addEventListener("input", showPrecheck);
  file.addEventListener("change", showPrecheck);
  file.addEventListener("submit", async ev => {
    ev.preventDefault();
    const list = s => s.split(/[,，\s]+/).map(x => x.trim()).filter(Boolean);
    const body = { enterprise_code: file.enterprise_code.value.trim(), kind: file.kind.value,
                   planned_date: file.planned_date.value, items: list(file.items.value), inspectors: list(file.inspectors.value) };
    if (file.exempt_category.value) body.exempt_category = file.exempt_category.value;
    if (file.reason.value) body.reason = file.reason.value;
    if (staff) body.department = file.department.value;
    const box = document.getElementById("filed");
    try {
      const v = await api("/api/v1/inspections", { method: "POST", body,
        headers: { "Idempotency-Key": "ui-" + Date.now() + "-" + Math.random().toString(36).slice(2, 8) } });
      box.replaceChildren(el("div", { class: "msg " + (v.violations.length ? "warn" : "ok"), role: "status", id: "filed-result" },
        el("strong", {}, `已报备 #${v.id}：${STATUS[v.status] || v.status}，${v.entry_code === "green" ? "绿码" : "红码"}`),
        v.violations.length ? el("ul", {}, v.violations.map(x => el("li", { "data-rule": x.rule }, `${x.rule} ${x.message}`))) : el("p", {}, "未违反规则")));
      draw(); review();
    } catch (e) { QQ.showError(box, e); }
  });
  async function review() {
    const box = document.getElementById("review");
    try {
      const pending = (await all({ status: "pending_approval" })).filter(v => v.exempt_category || v.kind === "emergency" || v.violations.length);
      const flagged = await all({ flagged: "true" });
      const rows = [...pending, ...flagged.filter(f => !pending.some(p => p.id === f.id))];
      const HEAD = ["编号", "日期", "部门", "企业", "类型", "状态", "规则"];
      const cells = v => ["#" + v.id, v.planned_date, depts[v.department] || v.department, v.enterprise_name,
        v.kind === "emergency" ? "应急" : v.exempt_category ? "豁免" : "安静期/超频次",
        v.flagged_at ? "事后备案超时" : (STATUS[v.status] || v.status), v.violations.map(x => x.rule).join("、") || "—"];
      box.replaceChildren(rows.length ? el("div", { class: "table-wrap" }, el("table", { class: "stack" },
        el("thead", {}, el("tr", {}, HEAD.map(h => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows.map(v => el("tr", {}, cells(v).map((c, i) => el("td", { "data-label": HEAD[i] }, c))))))) : "暂无待审核的检查");
    } catch (e) { QQ.showError(box, e); }
  }
  nav.addEventListener("submit", ev => { ev.preventDefault(); history.replaceState(null, "", "?month=" + nav.month.value); draw(); });
  draw(); review();
})();
