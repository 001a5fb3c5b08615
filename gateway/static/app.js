/* Shared by every page: the token (sessionStorage), calls to the public API with
   it, the header and navigation, reference names. No framework, no build step. */
"use strict";
const QQ = (() => {
  const KEY = "qinqing.token";
  const token = () => sessionStorage.getItem(KEY);
  function claims() {
    const t = token();
    if (!t) return null;
    try {
      const part = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(part))));
    } catch (e) { return null; }
  }
  function signIn(t) { sessionStorage.setItem(KEY, t.trim()); }
  function signOut() { sessionStorage.removeItem(KEY); location.href = "/ui/signin"; }
  function requireSignIn() {
    const c = claims();
    if (!c || (c.exp && c.exp * 1000 < Date.now())) {
      location.href = "/ui/signin?next=" + encodeURIComponent(location.pathname + location.search);
      throw new Error("not signed in");
    }
    return c;
  }
  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || ("HTTP " + status));
      this.status = status; this.problem = problem || {};
    }
  }
  async function api(path, opts = {}) {
    const headers = Object.assign({ "Authorization": "Bearer " + token() }, opts.headers || {});
    let body = opts.body;
    if (body !== undefined && typeof body !== "string") { body = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
    const r = await fetch(path, { method: opts.method || "GET", headers, body });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (r.status === 401) { sessionStorage.removeItem(KEY); }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }
  let refPromise = null;
  function reference() { return refPromise || (refPromise = api("/api/v1/reference")); }
  async function names(kind) {
    const ref = await reference();
    const m = {};
    (ref[kind] || []).forEach(x => { m[x.code] = x.name; });
    return m;
  }
  function el(tag, attrs = {}, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const fmt = iso => iso ? new Date(iso).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false }) : "—";
  const ROLE = { taskforce: "优化专班", admin: "管理员", department: "部门", enterprise: "企业" };
  const STATUS = { received: "已受理", assigned: "已交办", accepted: "已签收", replied: "已答复", closed: "已销号" };
  const TIER = { red: "红色", yellow: "黄色", blue: "蓝色" };
  const PAGES = [["ledger", "台账"], ["calendar", "检查日历"], ["rankings", "评价排名"], ["live", "现场评议"], ["ops", "运行状态"]];
  function header(current) {
    const c = requireSignIn();
    const nav = el("nav", { "aria-label": "主导航" },
      PAGES.map(([p, n]) => el("a", { href: "/ui/" + p, "aria-current": p === current ? "page" : null }, n)));
    const who = el("span", { class: "who" }, `${ROLE[c.role] || c.role} · ${c.org || ""} · ${c.sub}`,
      " ", el("button", { type: "button", class: "secondary", onclick: signOut }, "退出"));
    document.body.prepend(el("a", { class: "skip", href: "#main" }, "跳到正文"),
      el("header", { class: "top" }, el("h1", {}, "亲清 · 优化专班"), nav, who));
    return c;
  }
  function showError(where, err) {
    const box = typeof where === "string" ? document.getElementById(where) : where;
    if (!box) return;
    let text = err.message || String(err);
    if (err.problem && err.problem.errors) text += "：" + Object.entries(err.problem.errors).map(([k, v]) => `${k} ${[].concat(v).join("；")}`).join("，");
    box.replaceChildren(el("div", { class: "msg error", role: "alert" }, `（${err.status || "错误"}）${text}`));
  }
  function month(d = new Date()) {
    const s = d.toLocaleDateString("sv-SE", { timeZone: "Asia/Shanghai" });
    return s.slice(0, 7);
  }
  return { token, claims, signIn, signOut, requireSignIn, api, ApiError, reference, names, el, fmt,
           header, showError, month, STATUS, TIER, ROLE };
})();
