/* Ovation website survey widget: an NPS bar at the bottom of a host page.
   Served as written, the same bytes for every site key: everything it needs comes from its own URL,
   {base}/w/v1/{siteKey}/{globalName}.js. Delighted's loader snippet works with only its URL changed.
   No dependencies, no cookies, no eval, no markup from server text (createElement/textContent only),
   styles through one constructable stylesheet in an open shadow root (allowed by a strict host CSP). */
(() => {
  "use strict";
  const W = window, D = document, t0 = performance.now();

  // Where we were loaded from: base, site key and global name.
  const me = D.currentScript || [...D.querySelectorAll('script[src*="/w/v1/"]')].pop();
  const src = (me && me.src) || "", cut = src.indexOf("/w/v1/");
  if (cut < 0) return;
  const base = src.slice(0, cut) + "/w/v1/";
  const path = src.slice(cut + 6).split(/[?#]/)[0].split("/");
  const key = path[0], file = path[path.length - 1].replace(/\.js$/, "");
  const name = /^[A-Za-z_$][\w$]*$/.test(file) ? file : "ovation";
  const prior = W[name];
  if (prior && prior.__ovation) return; // included twice

  let cur = null;   // the survey call that is pending or shown (one per page)
  let pageId = "";  // visitor id when localStorage is unavailable
  let sheet = null, warned = false;

  // ---- helpers
  const hex = () => Array.from(crypto.getRandomValues(new Uint8Array(16)),
    (b) => b.toString(16).padStart(2, "0")).join("");
  const VKEY = "ovation.visitor";
  function visitorId() {
    try {
      let id = localStorage.getItem(VKEY);
      if (!/^[0-9a-f]{32}$/.test(id || "")) localStorage.setItem(VKEY, (id = hex()));
      return id;
    } catch (e) {
      return pageId || (pageId = hex());
    }
  }
  const noop = () => {};
  const num = (v) => (v == null || v === "" || !isFinite(v) ? undefined : Number(v));

  function el(tag, cls, text, attrs) {
    const e = D.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    return e;
  }

  // A host callback that throws must not break us; report it without stopping.
  function call(o, fn, arg) {
    try {
      if (typeof o[fn] === "function") o[fn](arg);
    } catch (e) {
      setTimeout(() => { throw e; });
    }
  }

  // POST JSON as text/plain (a "simple" CORS request: no preflight), without credentials.
  async function post(route, body) {
    const r = await fetch(base + route, {
      method: "POST", mode: "cors", credentials: "omit", keepalive: true,
      headers: { "Content-Type": "text/plain;charset=UTF-8" }, body: JSON.stringify(body),
    });
    let data = {};
    try { data = JSON.parse((await r.text()) || "{}") || {}; } catch (e) { /* not JSON */ }
    if (!r.ok) {
      if (!warned && data.message) { warned = true; console.warn("Ovation: " + data.message); }
      throw new Error("HTTP " + r.status);
    }
    return data;
  }

  // ---- API
  function survey(o) {
    if (cur) return; // one survey at a time
    o = o && typeof o === "object" ? o : {};
    const props = {};
    for (const [k, v] of Object.entries(typeof o.properties === "object" && o.properties || {})) {
      if (v != null) props[k] = typeof v === "object" ? JSON.stringify(v) : String(v);
    }
    const c = (cur = { o, props, visitor: o.email ? signed(o) : { visitor_id: visitorId() } });
    const min = num(o.minTimeOnPage);
    c.timer = setTimeout(() => decide(c), Math.max(0, (min === undefined ? 30 : min) * 1000 - (performance.now() - t0)));
  }

  // A known visitor: their email, and its signature by the host's server when the key asks for one.
  function signed(o) {
    const v = { email: String(o.email) };
    if (o.emailSignature) v.email_signature = String(o.emailSignature);
    return v;
  }

  function reset() {
    try { localStorage.removeItem(VKEY); } catch (e) { /* unavailable */ }
    pageId = "";
    hide();
  }

  // ---- flow
  async function decide(c) {
    const o = c.o, cr = o.createdAt;
    const body = {
      key, visitor: c.visitor, properties: c.props, language: navigator.language,
      created_at: cr == null ? undefined : cr instanceof Date ? cr.toISOString() : typeof cr === "number" ? cr : String(cr),
      initial_delay: num(o.initialDelay), sample_factor: num(o.sampleFactor),
      recurring_period: o.recurringPeriod === false ? false : num(o.recurringPeriod),
      force_display: o.forceDisplay == null ? undefined : !!o.forceDisplay,
    };
    let d = null;
    try { d = await post("decide", body); } catch (e) { /* show nothing */ }
    if (c !== cur) return; // reset() meanwhile
    if (d && d.show && d.survey) show(c, d.ask, d.survey);
    else cur = null;
  }

  // Remove the bar (if any) and forget the current survey; onHide when a bar was shown.
  function hide() {
    const c = cur;
    cur = null;
    if (!c) return;
    clearTimeout(c.timer);
    if (c.host) { c.host.remove(); call(c.o, "onHide"); }
  }

  function show(c, ask, s) {
    const o = c.o, optional = " (" + (s.optional || "optional") + ")";
    const host = (c.host = el("ovation-survey", 0, null, { "data-ovation-widget": "" }));
    const hs = host.style, colour = (v, d) => (/^#[0-9a-f]{6}$/i.test(v) ? v : d);
    // Inline !important through CSSOM (CSP-safe) in addition to the :host rule.
    for (const [p, v] of [["position", "fixed"], ["left", "0"], ["right", "0"], ["bottom", "0"],
      ["z-index", "2147483646"], ["display", "block"]]) hs.setProperty(p, v, "important");
    hs.setProperty("--ov-brand", colour(s.brand, "#0969da"), "important");
    hs.setProperty("--ov-on", colour(s.brand_text, "#ffffff"), "important");

    const root = host.attachShadow({ mode: "open" });
    try {
      if (!sheet) { sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); }
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      root.append(el("style", 0, CSS)); // old browsers; a strict CSP may block it
    }

    const bar = el("section", "bar", null, {
      role: "dialog", "aria-modal": "false", "aria-labelledby": "ov-q",
      lang: s.language || "en", dir: s.dir === "rtl" ? "rtl" : "ltr",
    });
    const head = el("div", "head"), inner = el("div", "in");
    const h = el("h2", "q", s.question, { id: "ov-q" });
    const close = el("button", "close", "\u00d7", { type: "button", "aria-label": s.close || "Close" });
    head.append(h, close);
    bar.append(head, inner);

    // Step 1: the 0..10 score.
    const scale = el("div", "scale", null, { role: "group", "aria-labelledby": "ov-q" });
    for (let n = 0; n <= 10; n++) {
      const b = el("button", 0, String(n), { type: "button", "data-score": n });
      if (n % 10 === 0) b.setAttribute("aria-describedby", n ? "ov-hi" : "ov-lo");
      scale.append(b);
    }
    const ends = el("div", "ends");
    ends.append(el("span", 0, s.not_likely, { id: "ov-lo" }), el("span", 0, s.very_likely, { id: "ov-hi" }));
    inner.append(scale, ends);

    let step = 0, score = null, resp = null, form = null;

    scale.addEventListener("click", (e) => {
      const b = e.target.closest("button");
      if (b && !b.disabled && step === 0) choose(+b.dataset.score);
    });

    function choose(n) {
      step = 1;
      score = n;
      // The row stays, showing the choice; it can no longer be changed.
      for (const b of scale.children) {
        b.disabled = true;
        b.setAttribute("aria-pressed", String(+b.dataset.score === n));
      }
      resp = post("answers", {
        key, ask, visitor: c.visitor, name: o.name ? String(o.name) : undefined,
        properties: c.props, page_url: location.origin + location.pathname, score: n, language: navigator.language,
      }).then((r) => { call(o, "onRespond", n); return r.response; }, () => { if (cur === c) hide(); });
      form = commentForm();
      inner.append(form);
      form.querySelector("textarea").focus();
    }

    // Step 2: the comment and the survey's additional questions.
    function commentForm() {
      const f = el("form", "form");
      f.noValidate = true;
      const lab = el("label", "lbl", s.comment_prompt, { for: "ov-comment" });
      lab.append(el("span", "opt", optional));
      const ta = el("textarea", 0, null, { id: "ov-comment", rows: 3, maxlength: 5000 });
      const box = el("div");
      box.append(lab, ta);
      f.append(box);
      const getters = (Array.isArray(s.questions) ? s.questions : []).map((q, i) => question(f, q, i));
      const send = el("button", "send", s.submit || "Send", { type: "submit" });
      const foot = el("div", "foot");
      foot.append(send);
      f.append(foot);
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        if (send.disabled) return;
        send.disabled = true;
        const comment = ta.value.trim(), answers = {};
        for (const [id, get] of getters) {
          const v = get();
          if (v !== undefined) answers[id] = v;
        }
        const token = await resp;
        if (!token || cur !== c) return;
        const body = { key, response: token };
        if (comment) body.comment = comment;
        if (Object.keys(answers).length) body.answers = answers;
        if (body.comment || body.answers) {
          try { await post("comments", body); } catch (err) { send.disabled = false; return; }
        }
        if (comment) call(o, "onComment", comment);
        call(o, "onSubmit", { score, comment, answers });
        thanks();
      });
      return f;
    }

    function question(f, q, i) {
      const fs = el("fieldset", "qf"), id = "ov-q" + i;
      const lg = el("legend", 0, q.text, { id });
      lg.append(el("span", "opt", optional));
      fs.append(lg);
      f.append(fs);
      if (q.kind === "text") {
        const t = el("textarea", 0, null, { rows: 2, maxlength: 5000, "aria-labelledby": id });
        fs.append(t);
        return [q.id, () => t.value.trim() || undefined];
      }
      const rated = q.kind === "csat" || q.kind === "ces", multi = q.kind === "multiple";
      const opts = (rated ? q.scale : q.choices) || (rated ? [1, 2, 3, 4, 5] : []);
      const wrap = el("div", rated ? "pick" : "choices");
      const inputs = opts.map((v, j) => {
        const lb = el("label"), inp = el("input", 0, null, {
          type: multi ? "checkbox" : "radio", name: id, value: rated ? v : j,
        });
        lb.append(inp, el("span", 0, String(v)));
        wrap.append(lb);
        return inp;
      });
      fs.append(wrap);
      if (rated && (q.low || q.high)) {
        const e = el("div", "ends", null, { id: id + "e" });
        e.append(el("span", 0, q.low || ""), el("span", 0, q.high || ""));
        fs.append(e);
        fs.setAttribute("aria-describedby", id + "e");
      }
      return [q.id, () => {
        const on = inputs.filter((x) => x.checked).map((x) => Number(x.value));
        return multi ? (on.length ? on : undefined) : on[0];
      }];
    }

    // Step 3: thanks for 3 s, then gone.
    function thanks() {
      step = 2;
      const t = el("p", "thanks", null, { id: "ov-t", tabindex: "-1" });
      const NS = "http://www.w3.org/2000/svg", svg = D.createElementNS(NS, "svg");
      svg.setAttribute("viewBox", "0 0 24 24");
      svg.setAttribute("aria-hidden", "true");
      for (const [tag, a] of [["circle", { cx: 12, cy: 12, r: 12 }], ["path", { d: "M7 12.5l3.2 3.2L17 9" }]]) {
        const e = D.createElementNS(NS, tag);
        for (const k in a) e.setAttribute(k, a[k]);
        svg.append(e);
      }
      t.append(svg, el("span", 0, s.thanks));
      h.replaceWith(t);
      inner.remove();
      bar.setAttribute("aria-labelledby", "ov-t");
      t.focus();
      c.timer = setTimeout(() => { if (cur === c) hide(); }, 3000);
    }

    // Close (or Escape): at the score step it is a dismissal; later the answer is kept.
    function dismiss() {
      if (step === 0) post("dismissals", { key, ask, visitor: c.visitor }).catch(noop);
      hide();
    }
    close.addEventListener("click", dismiss);
    bar.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { e.stopPropagation(); dismiss(); }
    });

    root.append(bar);
    (D.body || D.documentElement).append(host); // appears without taking focus
    call(o, "onShow");
  }

  // ---- styles (px, not rem: the host page's root font size must not matter)
  const CSS = `
:host{all:initial!important;position:fixed!important;left:0!important;right:0!important;bottom:0!important;
 z-index:2147483646!important;display:block!important;pointer-events:none!important}
*{box-sizing:border-box}
.bar{pointer-events:auto;display:flex;flex-direction:column;max-width:720px;max-height:90vh;margin:0 auto;
 padding:18px 22px calc(20px + env(safe-area-inset-bottom,0px));background:#fff;color:#1f2328;border:1px solid #d0d7de;border-bottom:0;
 border-radius:14px 14px 0 0;box-shadow:0 -8px 32px rgba(31,35,40,.14),0 -1px 3px rgba(31,35,40,.06);
 font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 text-align:start;animation:ov-up .2s ease-out}
@keyframes ov-up{from{transform:translateY(100%)}}
.head{display:flex;align-items:flex-start;gap:12px;margin-bottom:14px}
.head:last-child{margin:0}
h2{flex:1;margin:6px 0 0;font-size:17px;font-weight:600;line-height:1.35}
.in{overflow:auto;min-height:0;margin:-4px;padding:4px}
button,input,textarea{font:inherit;color:inherit;margin:0}
button{cursor:pointer;-webkit-tap-highlight-color:transparent}
:focus-visible{outline:3px solid #0969da;outline-offset:2px}
.close{flex:none;margin-inline-start:auto;margin-inline-end:-8px;width:36px;height:36px;padding:0;border:0;
 border-radius:8px;background:transparent;color:#57606a;font-size:26px;line-height:1}
.close:hover{background:#f3f4f6;color:#1f2328}
.scale{display:grid;grid-template-columns:repeat(11,minmax(0,1fr));gap:6px}
.scale button{height:42px;min-width:0;padding:0;border:0;border-radius:8px;background:var(--ov-brand);
 color:var(--ov-on);font-weight:600;font-variant-numeric:tabular-nums;transition:transform .12s,filter .12s}
.scale button:enabled:hover{filter:brightness(.9);transform:translateY(-2px)}
.scale button:disabled{cursor:default;opacity:.25}
.scale button[aria-pressed=true]{opacity:1;box-shadow:0 0 0 2px #fff,0 0 0 4px var(--ov-brand)}
.ends{display:flex;justify-content:space-between;gap:12px;margin-top:6px;font-size:13px;color:#57606a}
.ends :last-child{text-align:end}
.form{display:grid;gap:16px;margin-top:18px;padding-top:16px;border-top:1px solid #eaeef2}
.lbl,legend{display:block;margin:0 0 6px;padding:0;font-weight:600}
.opt{font-weight:400;color:#57606a}
textarea{display:block;width:100%;min-height:44px;padding:8px 10px;border:1px solid #8c959f;border-radius:8px;
 background:#fff;resize:vertical}
textarea:focus{outline:3px solid #0969da;outline-offset:0;border-color:#0969da}
fieldset{min-width:0;margin:0;padding:0;border:0}
.pick{display:flex;gap:6px}
.pick label{position:relative;flex:1}
.pick input{position:absolute;opacity:0;width:1px;height:1px;pointer-events:none}
.pick span{display:block;padding:8px 0;border:1px solid #8c959f;border-radius:8px;text-align:center;cursor:pointer}
.pick label:hover span{border-color:var(--ov-brand)}
.pick input:checked+span{background:var(--ov-brand);border-color:var(--ov-brand);color:var(--ov-on);font-weight:600}
.pick input:focus-visible+span{outline:3px solid #0969da;outline-offset:2px}
.choices{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:6px}
.choices label{display:flex;align-items:center;gap:10px;padding:9px 12px;border:1px solid #d0d7de;border-radius:8px;cursor:pointer}
.choices label:hover{border-color:#8c959f}
.choices label:has(:checked){border-color:var(--ov-brand);box-shadow:inset 0 0 0 1px var(--ov-brand)}
.choices input{flex:none;width:18px;height:18px;accent-color:var(--ov-brand)}
.foot{position:sticky;bottom:-4px;display:flex;justify-content:flex-end;margin:-8px -4px -4px;padding:8px 4px 4px;background:#fff}
.send{min-height:42px;padding:0 24px;border:0;border-radius:8px;background:var(--ov-brand);color:var(--ov-on);font-weight:600}
.send:hover:enabled{filter:brightness(.9)}
.send:disabled{cursor:default;opacity:.6}
.thanks{flex:1;display:flex;align-items:center;justify-content:center;gap:10px;margin:0;padding-inline-start:48px;
 min-height:36px;font-size:17px;font-weight:600;text-align:center;outline:0}
.thanks svg{flex:none;width:28px;height:28px}
.thanks circle{fill:var(--ov-brand)}
.thanks path{fill:none;stroke:var(--ov-on);stroke-width:2.4;stroke-linecap:round;stroke-linejoin:round}
@media (max-width:520px){.bar{padding:14px 14px calc(14px + env(safe-area-inset-bottom,0px));border-radius:12px 12px 0 0}
 h2{font-size:16px}.scale{gap:3px}.scale button{height:40px;border-radius:6px}.form{gap:12px;margin-top:14px;padding-top:12px}
 .choices{grid-template-columns:1fr}.choices label{padding:7px 12px}.pick span{padding:6px 0}
 .thanks{justify-content:flex-start;padding-inline-start:0;text-align:start}}
@media (max-width:340px){.scale{grid-template-columns:repeat(6,minmax(0,1fr))}}
@media (prefers-reduced-motion:reduce){.bar{animation:none}*{transition:none!important}}`;

  // ---- install: replace Delighted's stub queue (or nothing) by the API, then replay the queue
  const api = { survey, reset, setPassiveSurvey: noop, showPassiveSurvey: noop, hidePassiveSurvey: noop };
  Object.defineProperty(api, "__ovation", { value: true });
  W[name] = api;
  if (Array.isArray(prior)) {
    for (const q of prior) {
      if (Array.isArray(q) && typeof api[q[0]] === "function") api[q[0]].apply(api, q[1] || []);
    }
  }
})();
