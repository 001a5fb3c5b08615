"use strict";
(async () => {
  const { el, api } = QQ;
  QQ.header("ledger");
  const form = document.getElementById("filters");
  const tbody = document.querySelector("#list tbody");
  const more = document.getElementById("more");
  let items = [], cursor = null, depts = {};
  try {
    const ref = await QQ.reference();
    depts = await QQ.names("departments");
    const fill = (name, list) => list.forEach(x => form[name].append(el("option", { value: x.code }, x.name)));
    fill("status", ref.statuses.map(s => ({ code: s, name: QQ.STATUS[s] || s })));
    fill("department", ref.departments);
    fill("tier", ref.tiers.map(t => ({ code: t.code, name: `${QQ.TIER[t.code] || t.code}（${t.working_days} 个工作日）` })));
    fill("channel", ref.channels);
    fill("category", ref.categories);
  } catch (e) { QQ.showError("out", e); }
  // filters live in the address so a filtered ledger can be bookmarked or shared
  const params = new URLSearchParams(location.search);
  for (const [k, v] of params) if (form[k]) form[k].value = v;

  function query() {
    const q = new URLSearchParams();
    for (const f of form.elements) if (f.name && f.value) q.set(f.name, f.value);
    return q;
  }
  function row(a) {
    const tier = a.tier || "blue";
    return el("tr", { class: `tier-${tier}` + (a.overdue ? " overdue" : ""), "data-id": a.id, "data-overdue": a.overdue ? "true" : "false" },
      el("td", { "data-label": "编号" }, el("a", { href: `/ui/appeal?id=${a.id}` }, "#" + a.id)),
      el("td", { "data-label": "标题" }, el("a", { href: `/ui/appeal?id=${a.id}` }, a.title)),
      el("td", { "data-label": "等级" }, el("span", { class: `badge ${tier}` }, QQ.TIER[tier] || tier),
        a.overdue ? [" ", el("span", { class: "badge overdue", title: "已超过办理时限" }, `超期·${QQ.TIER[tier] || tier}`)] : null),
      el("td", { "data-label": "状态" }, QQ.STATUS[a.status] || a.status),
      el("td", { "data-label": "牵头部门" }, depts[a.lead_department] || a.lead_department || "—"),
      el("td", { "data-label": "受理时间" }, QQ.fmt(a.received_at)),
      el("td", { "data-label": "办理时限" }, QQ.fmt(a.due_at)));
  }
  function counts() {
    const by = (key, names) => {
      const m = {};
      items.forEach(a => { const k = a[key] || "—"; m[k] = (m[k] || 0) + 1; });
      return Object.entries(m).sort((x, y) => y[1] - x[1])
        .map(([k, n]) => el("div", { class: "n" }, el("b", {}, n), names[k] || k));
    };
    const overdue = items.filter(a => a.overdue).length;
    document.getElementById("by-status").replaceChildren(
      el("div", { class: "n" }, el("b", {}, items.length), "已加载"),
      el("div", { class: "n" }, el("b", { class: "down" }, overdue), "超期"),
      ...by("status", QQ.STATUS));
    document.getElementById("by-dept").replaceChildren(...by("lead_department", depts));
  }
  let latest = 0;  // only the newest query's answer is shown (an older one may arrive later)
  async function load(reset) {
    const q = query(), mine = ++latest;
    if (reset) history.replaceState(null, "", "?" + q);
    else if (cursor !== null) q.set("cursor", cursor);
    q.set("limit", "100");
    try {
      const page = await api("/api/v1/appeals?" + q);
      if (mine !== latest) return;
      if (reset) { items = []; tbody.replaceChildren(); }
      items = items.concat(page.items);
      page.items.forEach(a => tbody.append(row(a)));
      if (!items.length) tbody.append(el("tr", {}, el("td", { colspan: 7 }, "没有符合条件的诉求")));
      cursor = page.next_cursor; more.hidden = cursor === null;
      document.getElementById("out").replaceChildren();
      counts();
    } catch (e) { QQ.showError("out", e); }
  }
  form.addEventListener("submit", ev => { ev.preventDefault(); load(true); });
  more.addEventListener("click", () => load(false));
  load(true);
})();
