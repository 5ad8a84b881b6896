// OTA dashboard: polls the admin API once a second (paused while the tab is hidden) and renders
// rollouts, the fleet's version distribution and the releases. No library, no build step.
// Everything from the API goes into the page through textContent / attributes, never as HTML.
"use strict";

(function () {
  const TOKEN_KEY = "ota-dashboard-token";
  const POLL_MS = 1000;
  const API = "/api/v1/admin";

  const $ = (id) => document.getElementById(id);

  // ---------- token ----------

  function takeTokenFromFragment() {
    const hash = window.location.hash.replace(/^#/, "");
    if (!hash) return;
    const params = new URLSearchParams(hash);
    const token = params.get("token");
    if (token !== null) {
      if (token.trim()) sessionStorage.setItem(TOKEN_KEY, token.trim());
      params.delete("token");
      const rest = params.toString();
      // Drop the token from the address bar (and from the history entry).
      history.replaceState(null, "", window.location.pathname + window.location.search + (rest ? "#" + rest : ""));
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  // ---------- small DOM helpers ----------

  // el("div", {class: "x", "data-testid": "y"}, child, "text", ...)
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "text") node.textContent = String(v);
        else node.setAttribute(k, String(v));
      }
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function fmtTime(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "—";
    const d = new Date(ms);
    const now = new Date();
    const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    if (d.toDateString() === now.toDateString()) return time;
    return d.toLocaleDateString([], { year: "numeric", month: "short", day: "numeric" }) + " " + time;
  }

  function fmtBytes(n) {
    if (typeof n !== "number") return "—";
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function fmtDuration(ms) {
    if (typeof ms !== "number") return "—";
    if (ms < 1000) return ms + " ms";
    const s = ms / 1000;
    if (s < 120) return (Number.isInteger(s) ? s : s.toFixed(1)) + " s";
    const m = s / 60;
    if (m < 120) return Math.round(m) + " min";
    return (m / 60).toFixed(1) + " h";
  }

  function fmtPercent(p) {
    if (typeof p !== "number") return "?";
    return (Number.isInteger(p) ? p : p.toFixed(p < 1 ? 2 : 1)) + "%";
  }

  function num(x) {
    return typeof x === "number" && isFinite(x) ? x : 0;
  }

  function short(hex) {
    return typeof hex === "string" && hex.length > 12 ? hex.slice(0, 12) + "…" : hex || "—";
  }

  function stateLabel(s) {
    return String(s || "unknown").replace(/_/g, " ");
  }

  // ---------- API ----------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path) {
    const init = {
      method,
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    };
    if (method === "POST") {
      init.headers["Content-Type"] = "application/json";
      init.body = "{}";
    }
    let res;
    try {
      res = await fetch(API + path, init);
    } catch (e) {
      throw new ApiError(0, "network", "the server did not answer (" + e.message + ")");
    }
    let body = null;
    const text = await res.text();
    try {
      body = text ? JSON.parse(text) : null;
    } catch (_) {
      body = null;
    }
    if (!res.ok) {
      const err = body && body.error ? body.error : {};
      throw new ApiError(res.status, err.code || "http_" + res.status, err.message || res.statusText || "request failed");
    }
    return body;
  }

  // ---------- status line ----------

  function setLive(state, text) {
    const live = $("live");
    live.dataset.state = state;
    live.textContent = text;
  }

  function showBanner(text, kind) {
    const b = $("banner");
    if (!text) {
      b.hidden = true;
      b.textContent = "";
      return;
    }
    b.className = "banner" + (kind ? " " + kind : "");
    b.textContent = text;
    b.hidden = false;
  }

  function authMessage(e) {
    if (e.status === 401) {
      return "The admin token was rejected (401 " + e.code + ": " + e.message + "). Create a new token with " +
        "`ota-server token --config <dir>/ota-server.toml --name dashboard --role viewer` and open /dashboard#token=<token>.";
    }
    return "The admin token is not allowed to read this (403 " + e.code + ": " + e.message + "). " +
      "A token with at least the viewer role is needed.";
  }

  // ---------- rollouts ----------

  const ACTIONS = [
    { path: "pause", label: "Pause", cls: "btn-secondary", when: (r) => r.state === "running" || r.state === "awaiting_approval" },
    { path: "resume", label: "Resume", cls: "", when: (r) => r.state === "paused" },
    { path: "approve", label: "Approve next stage", cls: "", when: (r) => r.state === "awaiting_approval" },
    {
      path: "retry-failed",
      label: "Retry failed",
      cls: "btn-secondary",
      when: (r) => ["running", "paused", "awaiting_approval"].includes(r.state) && totalFailures(r) > 0,
    },
    {
      path: "abort",
      label: "Abort",
      cls: "btn-danger",
      confirm: "Abort this rollout? Devices that have not started will not be offered the release.",
      when: (r) => ["draft", "running", "awaiting_approval", "paused"].includes(r.state),
    },
  ];

  function totalFailures(r) {
    if (r.totals) return num(r.totals.failed) + num(r.totals.rolled_back);
    return (r.stages || []).reduce((n, s) => n + num(s.counts && s.counts.failed) + num(s.counts && s.counts.rolled_back), 0);
  }

  // Per-rollout state that must survive re-renders.
  const rolloutUi = new Map(); // id -> {json, node, busy, error, timelineOpen}

  function renderRollouts(list) {
    const box = $("rollouts");
    if (!Array.isArray(list) || list.length === 0) {
      rolloutUi.clear();
      box.replaceChildren(el("div", { class: "card" }, el("p", { class: "empty", text: "No rollouts yet." })));
      $("rollouts-summary").textContent = "";
      return;
    }
    const counts = {};
    for (const r of list) counts[r.state] = (counts[r.state] || 0) + 1;
    $("rollouts-summary").textContent = Object.entries(counts)
      .map(([s, n]) => n + " " + stateLabel(s))
      .join(" · ");

    const seen = new Set();
    const nodes = [];
    for (const r of list) {
      const id = String(r.id);
      seen.add(id);
      let ui = rolloutUi.get(id);
      if (!ui) {
        ui = { json: null, node: null, busy: false, error: null, timelineOpen: !["completed", "aborted"].includes(r.state) };
        rolloutUi.set(id, ui);
      }
      const json = JSON.stringify(r);
      // Rebuild a card only when its data changed, so buttons and scroll positions stay put.
      if (json !== ui.json || !ui.node) {
        ui.json = json;
        ui.data = r;
        ui.node = rolloutCard(r, ui);
      }
      nodes.push(ui.node);
    }
    for (const id of [...rolloutUi.keys()]) if (!seen.has(id)) rolloutUi.delete(id);
    // Only touch the DOM when the order or the nodes changed.
    const current = Array.from(box.children);
    if (current.length !== nodes.length || current.some((n, i) => n !== nodes[i])) box.replaceChildren(...nodes);
  }

  function rerenderRollout(id) {
    const ui = rolloutUi.get(id);
    if (!ui || !ui.data) return;
    const old = ui.node;
    ui.node = rolloutCard(ui.data, ui);
    if (old && old.parentNode) old.replaceWith(ui.node);
  }

  function rolloutCard(r, ui) {
    const id = String(r.id);
    const release = r.release || {};
    const card = el("article", {
      class: "card rollout",
      "data-testid": "rollout-" + id,
      "data-state": r.state,
      "data-rollout-id": id,
    });

    const title = el(
      "div",
      { class: "rollout-title" },
      el("h3", { text: r.name || "rollout " + id }),
      el("span", { class: "badge " + r.state, "data-testid": "rollout-state", "data-state": r.state, text: stateLabel(r.state) }),
    );
    const meta = el(
      "div",
      { class: "rollout-meta" },
      el("span", {}, "release ", el("b", { text: release.version || "?" }), " (seq " + (release.sequence ?? "?") + ")"),
      el("span", {}, "class ", el("b", { text: release.class || "?" })),
      el("span", { "data-testid": "in-flight" }, "in flight ", el("b", { text: num(r.in_flight) + " / " + num(r.max_in_flight) })),
      r.totals
        ? el(
            "span",
            { "data-testid": "totals", title: "devices, all stages together" },
            "all stages ",
            el("b", { text: num(r.totals.committed) + " / " + num(r.totals.offered) }),
            " committed / offered",
            totalFailures(r) > 0 ? " · " : null,
            totalFailures(r) > 0 ? el("span", { class: "bad", text: totalFailures(r) + " failed or rolled back" }) : null,
          )
        : null,
      num(r.penalty_boxed) > 0 ? el("span", {}, "penalty box ", el("b", { text: num(r.penalty_boxed) })) : null,
      (r.suspicious || []).length > 0
        ? el(
            "span",
            {
              class: "bad",
              "data-testid": "suspicious",
              title: "claimed success without downloading the release (not counted): " +
                r.suspicious.map((s) => s.device_id).join(", "),
            },
            "suspicious ",
            el("b", { text: num(r.suspicious.length) }),
          )
        : null,
      el("span", {}, "updated ", el("b", { text: fmtTime(r.updated_ms) })),
    );

    // Only the actions the rollout's state allows are shown (none once it is finished).
    const actions = el("div", { class: "actions" });
    for (const a of ACTIONS) {
      if (!a.when(r)) continue;
      const b = el("button", {
        type: "button",
        class: "btn " + a.cls,
        "data-action": a.path,
        disabled: ui.busy,
        text: a.label,
      });
      b.addEventListener("click", () => runAction(id, a));
      actions.append(b);
    }
    card.append(el("div", { class: "rollout-head" }, el("div", {}, title, meta), actions));

    if (ui.error) card.append(el("div", { class: "action-error", role: "alert", "data-testid": "action-error", text: ui.error }));

    if (r.state === "paused") {
      card.append(
        el(
          "div",
          { class: "pause-reason", role: "status" },
          el("strong", { text: "Paused:" }),
          el("span", { "data-testid": "pause-reason", text: r.pause_reason || "no reason given" }),
        ),
      );
    }

    const stages = el("div", { class: "stages", "data-testid": "stages" });
    for (const s of r.stages || []) stages.append(stageRow(r, s));
    card.append(stages);

    const timeline = [...(r.timeline || [])].sort((a, b) => num(b.at_ms) - num(a.at_ms));
    const rows = el("tbody");
    for (const t of timeline) {
      rows.append(
        el(
          "tr",
          { "data-kind": t.kind },
          el("td", {}, el("time", { class: "muted mono", text: fmtTime(t.at_ms) })),
          el("td", { class: "muted stage-ref", text: typeof t.stage === "number" ? "stage " + (t.stage + 1) : "" }),
          el("td", { class: "kind " + t.kind, text: stateLabel(t.kind) }),
          el("td", { class: "message", text: t.message || "" }),
        ),
      );
    }
    if (timeline.length === 0) rows.append(el("tr", {}, el("td", { class: "muted", colspan: 4, text: "no events yet" })));
    const list = el("div", { class: "timeline-wrap" }, el("table", { class: "timeline", "data-testid": "timeline" }, rows));
    const details = el(
      "details",
      { class: "timeline-box", open: ui.timelineOpen },
      el("summary", { text: "Timeline (" + timeline.length + " event" + (timeline.length === 1 ? "" : "s") + ", newest first)" }),
      list,
    );
    details.addEventListener("toggle", () => {
      ui.timelineOpen = details.open;
    });
    card.append(details);
    return card;
  }

  // Counts (see the admin API's StageView): `counts` are the devices first offered the release
  // while that stage was current ("this stage"); `cumulative` adds every earlier stage ("so
  // far"); a stage's `cohort` is cumulative too (the 10% stage's cohort holds the 1% stage's
  // devices), so progress toward promotion is `cumulative.committed` of `cohort`.
  function counts(c) {
    c = c || {};
    const offered = num(c.offered);
    const committed = num(c.committed);
    const failed = num(c.failed);
    const rolledBack = num(c.rolled_back);
    // `offered` counts every device offered, whatever happened next.
    return { offered, committed, failed, rolledBack, inProgress: Math.max(0, offered - committed - failed - rolledBack) };
  }

  function plural(n, one) {
    return n + " " + (n === 1 ? one : one + "s");
  }

  function promotionRule(s, cohort) {
    const pct = fmtPercent(num(s.min_committed_percent));
    const count = typeof s.min_committed === "number" ? s.min_committed : null; // null: no count given
    const orCount = count !== null ? ", or " + count + " if fewer" : "";
    if (typeof s.committed_needed === "number") {
      return "promotes at " + s.committed_needed + " committed so far (" + pct + " of its cohort's devices that have not failed" + orCount + ")";
    }
    return "promotes at " + pct + " of its cohort committed so far" + orCount;
  }

  function stageRow(r, s) {
    const here = counts(s.counts);
    const soFar = counts(s.cumulative || s.counts);
    const index = num(s.index);
    const isCurrent = index === r.current_stage && !["completed", "aborted"].includes(r.state);
    const cohort = typeof s.cohort === "number" ? s.cohort : null;
    // Committed in earlier stages: the part of "so far" that is not this stage's.
    const earlier = Math.max(0, soFar.committed - here.committed);
    const scale = Math.max(cohort === null ? 0 : cohort, earlier + here.offered, 1);

    const bar = el("div", {
      class: "bar",
      role: "img",
      "aria-label":
        "so far " + soFar.committed + " committed" + (cohort !== null ? " of a cohort of " + cohort : "") +
        "; this stage " + here.committed + " committed, " + here.inProgress + " in progress, " + here.failed + " failed, " + here.rolledBack + " rolled back",
    });
    for (const [cls, n, what] of [
      ["seg-earlier", earlier, "committed in earlier stages"],
      ["seg-committed", here.committed, "committed in this stage"],
      ["seg-progress", here.inProgress, "in progress in this stage"],
      ["seg-failed", here.failed, "failed in this stage"],
      ["seg-rolled-back", here.rolledBack, "rolled back in this stage"],
    ]) {
      if (n <= 0) continue;
      const seg = el("span", { class: cls, title: n + " " + what });
      seg.style.width = (100 * n) / scale + "%";
      bar.append(seg);
    }

    const nums = el("div", { class: "stage-nums" });
    if (s.status === "pending" && here.offered === 0) {
      nums.append(el("span", { class: "muted", text: "not started" }));
    } else {
      const thisLine = el("div", { class: "nums-line", "data-testid": "this-stage" }, el("span", { class: "nums-label", text: "this stage" }));
      if (here.offered === 0) thisLine.append(el("span", { class: "muted", text: "nothing offered" }));
      else {
        thisLine.append(
          el("span", {}, el("b", { text: here.offered }), " offered"),
          " · ",
          el("span", {}, el("b", { text: here.committed }), " committed"),
        );
        if (here.inProgress > 0) thisLine.append(" · ", el("span", { text: here.inProgress + " in progress" }));
        if (here.failed > 0) thisLine.append(" · ", el("span", { class: "bad", text: here.failed + " failed" }));
        if (here.rolledBack > 0) thisLine.append(" · ", el("span", { class: "bad", text: here.rolledBack + " rolled back" }));
      }
      const soFarLine = el(
        "div",
        { class: "nums-line", "data-testid": "so-far" },
        el("span", { class: "nums-label", text: "so far" }),
        el("span", {}, el("b", { text: cohort !== null ? soFar.committed + " / " + cohort : soFar.committed }), " committed"),
      );
      const soFarFailures = soFar.failed + soFar.rolledBack;
      if (soFarFailures > 0) soFarLine.append(" · ", el("span", { class: "bad", text: soFarFailures + " failed or rolled back" }));
      nums.append(thisLine, soFarLine);
    }

    const gates = [];
    if (num(s.max_failures) > 0) gates.push(plural(num(s.max_failures), "failure") + " in this stage");
    const rateBp = num(s.max_failure_rate_bp);
    if (rateBp > 0 && rateBp < 10000) gates.push("a failure rate above " + fmtPercent(rateBp / 100));
    const rules = [
      promotionRule(s, cohort),
      "soak " + fmtDuration(s.soak_ms),
      gates.length > 0 ? "pauses at " + gates.join(" or ") : "no failure gate",
      s.promotion === "approval" ? "next stage needs approval" : "promotes automatically",
    ];

    return el(
      "div",
      {
        class: "stage" + (isCurrent ? " current" : ""),
        "data-testid": "stage-" + index,
        "data-status": s.status,
        "data-current": isCurrent ? "true" : "false",
        // this stage
        "data-offered": here.offered,
        "data-committed": here.committed,
        "data-in-progress": here.inProgress,
        "data-failed": here.failed,
        "data-rolled-back": here.rolledBack,
        // so far (this stage and every earlier one)
        "data-offered-so-far": soFar.offered,
        "data-committed-so-far": soFar.committed,
        "data-failed-so-far": soFar.failed,
        "data-rolled-back-so-far": soFar.rolledBack,
        "data-cohort": cohort === null ? "" : cohort,
        "data-committed-needed": typeof s.committed_needed === "number" ? s.committed_needed : "",
      },
      el(
        "div",
        { class: "stage-label" },
        "Stage " + (index + 1),
        el("span", {
          class: "muted",
          text: fmtPercent(s.percent) + " · " + (isCurrent ? "current" : s.status === "current" ? "stopped" : s.status || ""),
        }),
      ),
      bar,
      nums,
      el("div", { class: "stage-rules", text: rules.join(" · ") }),
    );
  }

  async function runAction(id, action) {
    const ui = rolloutUi.get(id);
    if (!ui || ui.busy) return;
    if (action.confirm && !window.confirm(action.confirm)) return;
    ui.busy = true;
    ui.error = null;
    rerenderRollout(id);
    try {
      await api("POST", "/rollouts/" + encodeURIComponent(id) + "/" + action.path);
    } catch (e) {
      ui.error = action.label + " failed: " + e.message + (e.code ? " (" + e.code + ")" : "");
    } finally {
      ui.busy = false;
      ui.json = null; // force a fresh card at the next poll
      rerenderRollout(id);
      schedule(0);
    }
  }

  // ---------- fleet ----------

  const PALETTE = ["#1f5fbf", "#1e8e4e", "#b86e00", "#7b3fc4", "#0f8a8a", "#c2417a", "#5d6b7e", "#8a6d00"];

  function renderFleet(fleet) {
    const box = $("fleet");
    const classes = (fleet && fleet.classes) || [];
    $("fleet-summary").textContent = fleet ? num(fleet.devices) + " devices" : "";
    if (classes.length === 0) {
      box.replaceChildren(el("p", { class: "empty", text: "No devices have reported a version yet." }));
      return;
    }
    const out = [];
    for (const c of classes) {
      const versions = [...(c.versions || [])].sort((a, b) => num(b.sequence) - num(a.sequence));
      const total = versions.reduce((n, v) => n + num(v.devices), 0);
      const bar = el("div", { class: "bar", role: "img", "aria-label": "version distribution of " + c.class });
      const rows = el("tbody");
      versions.forEach((v, i) => {
        const color = PALETTE[i % PALETTE.length];
        const share = total > 0 ? (100 * num(v.devices)) / total : 0;
        const seg = el("span", { title: (v.version || "unknown") + ": " + num(v.devices) + " devices" });
        seg.style.width = share + "%";
        seg.style.background = color;
        bar.append(seg);
        const sw = el("span", { class: "swatch" });
        sw.style.background = color;
        rows.append(
          el(
            "tr",
            { "data-version": v.version || "", "data-devices": num(v.devices) },
            el("td", {}, sw, v.version || "unknown"),
            el("td", { class: "num", text: v.sequence ?? "—" }),
            el("td", { class: "num", text: num(v.devices) }),
            el("td", { class: "num", text: share.toFixed(1) + "%" }),
            el("td", { class: "mono", title: v.digest || "", text: short(v.digest) }),
          ),
        );
      });
      out.push(
        el(
          "div",
          { class: "fleet-class", "data-class": c.class },
          el("div", { class: "fleet-class-head" }, el("b", { text: c.class || "unclassified" }), el("span", { class: "muted", text: total + " devices" })),
          bar,
          el(
            "div",
            { class: "table-wrap" },
            el(
              "table",
              {},
              el(
                "thead",
                {},
                el(
                  "tr",
                  {},
                  el("th", { text: "Version" }),
                  el("th", { class: "num", text: "Seq" }),
                  el("th", { class: "num", text: "Devices" }),
                  el("th", { class: "num", text: "Share" }),
                  el("th", { text: "Image" }),
                ),
              ),
              rows,
            ),
          ),
        ),
      );
    }
    box.replaceChildren(...out);
  }

  // ---------- releases ----------

  function renderReleases(list) {
    const box = $("releases");
    if (!Array.isArray(list) || list.length === 0) {
      $("releases-summary").textContent = "";
      box.replaceChildren(el("p", { class: "empty", text: "No releases uploaded yet." }));
      return;
    }
    $("releases-summary").textContent = list.length + " release" + (list.length === 1 ? "" : "s");
    const sorted = [...list].sort((a, b) => num(b.id) - num(a.id));
    const rows = el("tbody");
    for (const r of sorted) {
      rows.append(
        el(
          "tr",
          { "data-release-id": r.id },
          el("td", { class: "num", text: r.id }),
          el("td", {}, el("b", { text: r.version || "—" })),
          el("td", { text: r.class || "—" }),
          el("td", { class: "num", text: r.sequence ?? "—" }),
          el("td", { class: "num", text: fmtBytes(r.image_size) }),
          el("td", { class: "num", text: Array.isArray(r.patches) ? r.patches.length : 0 }),
          el("td", { class: "mono", title: r.image_sha256 || "", text: short(r.image_sha256) }),
          el("td", { text: fmtTime(r.created_ms) }),
          el("td", { text: r.uploaded_by || "—" }),
        ),
      );
    }
    const head = el("tr");
    for (const [t, n] of [["Id", 1], ["Version"], ["Class"], ["Seq", 1], ["Size", 1], ["Patches", 1], ["Image SHA-256"], ["Uploaded"], ["By"]]) {
      head.append(el("th", { class: n ? "num" : null, text: t }));
    }
    box.replaceChildren(el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), rows)));
  }

  // ---------- polling ----------

  let timer = null;
  let polling = false;
  let stopped = false;

  function cancel() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  function schedule(ms) {
    cancel();
    if (stopped || document.hidden) return;
    timer = setTimeout(poll, ms);
  }

  // A section whose endpoint is missing (an older server) is shown as unavailable, not as an error.
  function unavailable(boxId, what, e) {
    $(boxId).replaceChildren(el("p", { class: "empty", text: what + " are not available from this server (" + e.status + " " + e.code + ")." }));
  }

  async function poll() {
    timer = null;
    if (polling || stopped) return;
    polling = true;
    try {
      const [releases, rollouts, fleet] = await Promise.allSettled([api("GET", "/releases"), api("GET", "/rollouts"), api("GET", "/fleet")]);
      const errors = [releases, rollouts, fleet].filter((p) => p.status === "rejected").map((p) => p.reason);
      const auth = errors.find((e) => e.status === 401 || e.status === 403);
      if (auth) {
        if (auth.status === 401) {
          // A rejected token will not start working by itself: forget it and ask for another.
          sessionStorage.removeItem(TOKEN_KEY);
          showNoToken();
        }
        setLive("error", auth.status === 401 ? "unauthorized" : "forbidden");
        showBanner(authMessage(auth));
        return;
      }
      if (releases.status === "fulfilled") renderReleases(releases.value);
      if (rollouts.status === "fulfilled") renderRollouts(rollouts.value);
      else if (rollouts.reason.status === 404) unavailable("rollouts", "Rollouts", rollouts.reason);
      if (fleet.status === "fulfilled") renderFleet(fleet.value);
      else if (fleet.reason.status === 404) unavailable("fleet", "Fleet versions", fleet.reason);

      const hard = errors.filter((e) => e.status !== 404);
      if (hard.length > 0) {
        setLive("error", "error");
        showBanner(hard.map((e) => (e.status ? e.status + " " : "") + e.message).join("; ") + " — showing the last data received.");
      } else {
        if (document.hidden) setLive("paused", "paused (tab hidden)");
        else setLive("live", "live");
        showBanner(null);
        const lu = $("last-updated");
        const now = Date.now();
        lu.dataset.at = String(now);
        lu.textContent = "updated " + fmtTime(now);
      }
    } finally {
      polling = false;
      schedule(POLL_MS);
    }
  }

  function onVisibility() {
    if (stopped) return;
    if (document.hidden) {
      cancel();
      setLive("paused", "paused (tab hidden)");
    } else {
      schedule(0);
    }
  }

  function start() {
    stopped = false;
    $("no-token").hidden = true;
    $("main").hidden = false;
    $("sign-out").hidden = false;
    schedule(0);
  }

  function showNoToken() {
    stopped = true;
    cancel();
    $("main").hidden = true;
    $("sign-out").hidden = true;
    $("no-token").hidden = false;
    setLive("idle", "no token");
  }

  function init() {
    takeTokenFromFragment();
    $("example-url").textContent = window.location.origin + window.location.pathname + "#token=ota_…";
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("token-input").value.trim();
      if (!v) return;
      sessionStorage.setItem(TOKEN_KEY, v);
      $("token-input").value = "";
      showBanner(null);
      start();
    });
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showBanner(null);
      showNoToken();
    });
    window.addEventListener("hashchange", () => {
      const before = token();
      takeTokenFromFragment();
      if (token() && token() !== before) {
        showBanner(null);
        start();
      }
    });
    document.addEventListener("visibilitychange", onVisibility);
    if (token()) start();
    else showNoToken();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
