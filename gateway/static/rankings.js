"use strict";
(async () => {
  const { el, api } = QQ;
  QQ.header("rankings");
  const out = document.getElementById("out"), nav = document.getElementById("nav");
  const quarterOf = m => `${m.slice(0, 4)}-Q${Math.floor((Number(m.slice(5, 7)) - 1) / 3) + 1}`;
  const params = new URLSearchParams(location.search);
  nav.month.value = params.get("month") || QQ.month();
  nav.quarter.value = params.get("quarter") || quarterOf(nav.month.value);
  let subjects = {}, depts = {};
  try {
    depts = await QQ.names("departments");
    (await api("/api/v1/subjects")).forEach(s => { subjects[s.code] = s.name; });
  } catch (e) { QQ.showError(out, e); }
  const name = c => subjects[c] || depts[c] || c;
  const charts = {};
  function bar(id, rows, colour) {
    const node = document.getElementById(id);
    charts[id] = charts[id] || echarts.init(node, null, { renderer: "canvas" });
    charts[id].setOption({
      aria: { enabled: true }, grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
      xAxis: { type: "value", min: 0, max: 5, name: "平均分" },
      yAxis: { type: "category", inverse: true, data: rows.map(r => name(r.subject_code)), axisLabel: { width: 130, overflow: "truncate" } },
      series: [{ type: "bar", data: rows.map(r => r.mean), itemStyle: { color: colour },
                 label: { show: true, position: "right", formatter: p => p.value == null ? "—" : p.value.toFixed(2) } }],
      tooltip: { trigger: "axis" },
    }, true);
    node.dataset.drawn = rows.length ? "true" : "empty";
    if (!rows.length) charts[id].setOption({ title: { text: "评价数不足，暂无排名", left: "center", top: "middle", textStyle: { fontSize: 14, color: "#555" } } });
  }
  const pick = (r, codes) => codes.map(c => r.ranked.find(x => x.subject_code === c)).filter(Boolean);
  function table(title, r) {
    return el("div", {}, el("h4", {}, title), el("table", {},
      el("thead", {}, el("tr", {}, ["名次", "对象", "评价数", "平均分", "星级"].map(h => el("th", { scope: "col" }, h)))),
      el("tbody", {}, [...r.ranked, ...r.unranked].map(x => el("tr", {}, el("td", {}, x.place || "未排名"),
        el("td", {}, name(x.subject_code)), el("td", {}, x.ratings), el("td", {}, x.mean == null ? "—" : x.mean.toFixed(2)),
        el("td", {}, x.stars ? "★".repeat(x.stars) : "—"))))));
  }
  async function draw() {
    const month = nav.month.value, quarter = nav.quarter.value || quarterOf(month);
    history.replaceState(null, "", `?month=${month}&quarter=${quarter}`);
    out.replaceChildren();
    try {
      const m = await api(`/api/v1/rankings/current?kind=windows_monthly&period=${month}`);
      bar("chart-month-best", pick(m, m.best), "#146c2e");
      bar("chart-month-worst", pick(m, m.worst), "#b3001b");
      const q = await api(`/api/v1/rankings/current?kind=units_quarterly&period=${quarter}`);
      bar("chart-quarter", [...pick(q, q.best), ...pick(q, q.worst)], "#0b4f8a");
      document.getElementById("tables").replaceChildren(table("窗口（本月）", m), table("单位（本季度）", q));
    } catch (e) { QQ.showError(out, e); }
    notices(month);
  }
  async function notices(month) {
    // the notice (通报) is for the task force and departments; an enterprise gets 403
    let notice;
    try { notice = await api(`/api/v1/notices/${month}`); }
    catch (e) {
      ["red", "black"].forEach(id => document.getElementById(id).replaceChildren(el("li", {}, e.status === 403 ? "您的角色不能查看通报" : e.message)));
      return;
    }
    const list = (id, codes) => document.getElementById(id).replaceChildren(...(codes.length ? codes.map(c => el("li", {}, name(c))) : [el("li", {}, "暂无")]));
    list("red", notice.red); list("black", notice.black);
    document.getElementById("cards").replaceChildren(notice.cards.length ? el("ul", {}, notice.cards.map(c =>
      el("li", {}, el("span", { class: "badge " + (c.colour === "red" ? "red" : "yellow") }, c.colour === "red" ? "红牌" : "黄牌"),
        ` ${name(c.subject_code)}：${c.reason}（${c.status}）`))) : "本月暂无红黄牌");
    document.getElementById("published").replaceChildren(notice.rankings.length ? el("ul", {}, notice.rankings.map(r => {
      const result = el("span", { role: "status", "aria-live": "polite" });
      return el("li", {}, `#${r.id} ${r.kind} ${r.period} 第${r.version}版 · 摘要 ${r.digest.slice(0, 12)}… `,
        el("button", { type: "button", "data-verify": r.id, onclick: async () => {
          result.textContent = " 核验中…";
          try {
            const v = await api(`/api/v1/rankings/${r.id}/verify`);
            result.replaceChildren(" ", el("span", { class: "badge " + (v.matches && v.result_matches ? "green" : "red") },
              v.matches && v.result_matches ? "一致：重算结果与发布时相同" : "不一致"), ` 重算摘要 ${v.recomputed_digest.slice(0, 12)}…`);
          } catch (e) { result.textContent = " " + e.message; }
        } }, "核验"), result);
    })) : "本月尚未发布排名");
    line(month);
  }
  async function line(month) {
    // a department's composite score (综合得分) over the last six months, from the notices
    const months = [];
    const [y, m] = month.split("-").map(Number);
    for (let i = 5; i >= 0; i--) { const d = new Date(Date.UTC(y, m - 1 - i, 1)); months.push(d.toISOString().slice(0, 7)); }
    const all = await Promise.all(months.map(mm => api(`/api/v1/notices/${mm}`).catch(() => null)));
    const series = {};
    all.forEach((n, i) => (n ? n.scores : []).forEach(s => { (series[s.department] = series[s.department] || Array(6).fill(null))[i] = s.composite; }));
    const node = document.getElementById("chart-line");
    charts.line = charts.line || echarts.init(node);
    charts.line.setOption({ aria: { enabled: true }, tooltip: { trigger: "axis" }, legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 16, top: 32, bottom: 32, containLabel: true },
      xAxis: { type: "category", data: months }, yAxis: { type: "value", name: "综合得分" },
      series: Object.entries(series).map(([d, data]) => ({ type: "line", name: depts[d] || d, data, connectNulls: true })) }, true);
    node.dataset.drawn = "true";
  }
  nav.addEventListener("submit", ev => { ev.preventDefault(); draw(); });
  window.addEventListener("resize", () => Object.values(charts).forEach(c => c.resize()));
  draw();
})();
