"use strict";
(async () => {
  const { el } = QQ;
  QQ.header("ops");
  const NAME = { broker: "消息队列（RabbitMQ）", database: "网关数据库", appeals: "诉求服务", inspections: "入企检查服务", scoring: "评价服务", gateway: "网关" };
  async function refresh() {
    try {
      const r = await fetch("/readyz"), rep = await r.json();
      const rows = [["gateway", "ok"], ["broker", rep.broker], ["database", rep.database], ...Object.entries(rep.services || {})];
      document.getElementById("services").replaceChildren(...rows.map(([k, v]) => el("tr", { "data-component": k },
        el("td", {}, NAME[k] || k), el("td", {}, el("span", { class: "badge " + (v === "ok" ? "green" : "red") }, v === "ok" ? "正常" : `异常（${v}）`)))));
      document.getElementById("checked").textContent = "检查于 " + new Date().toLocaleTimeString("zh-CN", { hour12: false }) + "，每 10 秒刷新";
      const text = await (await fetch("/metrics")).text();
      const by = { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
      for (const line of text.split("\n")) {
        const m = line.match(/^qinqing_gateway_responses_total\{.*status="(\d)\d\d".*\}\s+([\d.e+]+)/);
        if (m) by[m[1] + "xx"] = (by[m[1] + "xx"] || 0) + Number(m[2]);
      }
      const total = Object.values(by).reduce((a, b) => a + b, 0) || 1;
      const LABEL = { "2xx": "成功", "3xx": "跳转", "4xx": "调用方错误", "5xx": "平台错误（错误率）" };
      document.getElementById("answers").replaceChildren(...Object.entries(by).map(([k, n]) =>
        el("tr", {}, el("td", {}, `${LABEL[k]} ${k}`), el("td", {}, n), el("td", {}, (100 * n / total).toFixed(1) + "%"))));
    } catch (e) { QQ.showError("out", e); }
  }
  refresh(); setInterval(refresh, 10000);
})();
