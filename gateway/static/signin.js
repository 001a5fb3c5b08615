"use strict";
(() => {
  const { el } = QQ;
  const next = new URLSearchParams(location.search).get("next");
  const go = () => { location.href = next && next.startsWith("/ui/") ? next : "/ui/ledger"; };
  async function tryToken(t, out) {
    QQ.signIn(t);
    try { await QQ.api("/api/v1/reference"); go(); }
    catch (e) { sessionStorage.removeItem("qinqing.token"); QQ.showError(out, e); }
  }
  const form = document.getElementById("signin");
  if (form) {
    form.addEventListener("submit", ev => { ev.preventDefault(); tryToken(document.getElementById("token").value, "out"); });
    // the development sign-in exists only in development mode: show the link when it answers
    fetch("/ui/dev-signin", { method: "GET" }).then(r => { if (r.ok) document.getElementById("dev").hidden = false; });
  }
  const dev = document.getElementById("devsignin");
  if (dev) {
    dev.addEventListener("submit", async ev => {
      ev.preventDefault();
      const body = { role: dev.role.value, org: dev.org.value, sub: dev.sub.value || null, scope: dev.scope.value };
      const r = await fetch("/ui/dev-token", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) return QQ.showError("out", new QQ.ApiError(r.status, data));
      tryToken(data.token, "out");
    });
  }
})();
