"use strict";
(async () => {
  const { el } = QQ;
  QQ.header("live");
  const pick = document.getElementById("pick"), state = document.getElementById("state");
  let depts = {};
  try { depts = await QQ.names("departments"); } catch (e) { QQ.showError("out", e); }
  let stop = null;
  function render(b) {
    document.getElementById("title").textContent = `现场评议：${b.title}`;
    state.textContent = `${b.status === "closed" ? "已结束" : "评议中"} · 第 ${b.revision} 次更新`;
    document.getElementById("board").replaceChildren(...b.board.map(r => el("tr", {},
      el("td", {}, r.place), el("td", {}, depts[r.department] || r.department),
      el("td", {}, r.mean.toFixed(1)), el("td", {}, r.scores))));
  }
  // EventSource cannot send the Authorization header, so the stream is read with
  // fetch() and parsed here (text/event-stream: "event:", "data:", blank line).
  async function follow(id) {
    if (stop) stop.abort();
    const ctl = new AbortController(); stop = ctl;
    history.replaceState(null, "", "?session=" + id);
    try {
      render(await QQ.api(`/api/v1/sessions/${id}`));
      const r = await fetch(`/api/v1/sessions/${id}/stream`, { headers: { Authorization: "Bearer " + QQ.token() }, signal: ctl.signal });
      if (!r.ok) throw new QQ.ApiError(r.status, await r.json().catch(() => null));
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
          const data = block.split("\n").filter(l => l.startsWith("data:")).map(l => l.slice(5).trim()).join("\n");
          if (data && /^event: board$/m.test(block)) render(JSON.parse(data));
        }
      }
      state.textContent += " · 推送已结束";
    } catch (e) { if (e.name !== "AbortError") QQ.showError("out", e); }
  }
  pick.addEventListener("submit", ev => { ev.preventDefault(); follow(pick.session.value); });
  const given = new URLSearchParams(location.search).get("session");
  if (given) { pick.session.value = given; follow(given); }
  else state.textContent = "请输入场次编号（由专班开启评议时得到）";
})();
