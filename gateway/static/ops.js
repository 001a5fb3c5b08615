"use strict";
(async () => {
  const { el } = QQ;
  QQ.header("ops");
  const NAME = { broker: "消息队列（RabbitMQ）", database: "网关数据库", appeals: "诉求服务", inspections: "入企检查服务", scoring: "评价服务", notify: "通知服务", gateway: "网关" };
  async function refresh() {
    try {
      const r = await fetch("/readyz"), rep = await r.json();
      const rows = [["gateway", "ok"], ["broker", rep.broker], ["database", rep.database], ...Object.entries(rep.services || {})];
      document.getElementById("services").replaceChildren(...rows.map(([k, v]) => el("tr", { "data-component": k },
        el("td", {}, NAME[k] || k), el("td", {}, el("span", { class: "badge " + (v === "ok" ? "green" : "red") }, v === "ok" ? "正常" : `异常（${v}）`)))));
      document.getElementById("checked").textContent = "检查于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }) + "，每 10 秒刷新";
    } catch (e) { QQ.showError("out", e); }
  }
  refresh(); setInterval(refresh, 10000);
})();
