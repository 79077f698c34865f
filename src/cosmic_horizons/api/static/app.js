// Cosmic Horizons dashboard: live over server-sent events from /api/stream.
// Every string that comes from the broker or the packets is written with textContent or as an
// attribute value through the DOM, never parsed as HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const nf = new Intl.NumberFormat("en-US");
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    array: null,
    selected: null, // element id
    tiles: new Map(), // element id -> {tile, e: its latest state, rfi and health shown}
    pendingArray: null, // the newest array event not drawn yet (older ones are skipped)
    sites: new Map(), // site id -> {root, head parts, tiles container}
    order: "", // element ids in display order, to know when to reorder
    lastEvent: 0,
    stream: "connecting", // connecting | open | retry
    brokerUp: null, // null until the first snapshot, then whether the broker answered it
  };

  // ---- small DOM helpers (text only) -------------------------------------------------------
  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function setText(id, text) {
    const node = typeof id === "string" ? $(id) : id;
    const value = text === undefined || text === null ? "—" : String(text);
    if (node.textContent !== value) node.textContent = value;
  }
  const fmtInt = (v) => (v === null || v === undefined ? "—" : nf.format(v));
  const fmtNum = (v, digits = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 0) return "unlimited";
    const s = ms / 1000;
    if (s % 86400 === 0) return `${s / 86400} d`;
    if (s % 3600 === 0) return `${s / 3600} h`;
    return `${Math.round(s)} s`;
  }
  function fmtBytes(b) {
    if (b === null || b === undefined) return "—";
    if (b < 0) return "unlimited";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = b;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
    return `${v.toFixed(v < 10 && i ? 1 : 0)} ${units[i]}`;
  }
  function fmtAge(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 1) return "now";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    return `${(seconds / 3600).toFixed(1)} h ago`;
  }
  function clearChildren(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = el("td", c.cls, c.text);
      if (c.node) td.appendChild(c.node);
      if (c.title) td.title = c.title;
      tr.appendChild(td);
    }
    return tr;
  }
  function emptyRow(tbody, span, text) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = el("td", null, text);
    td.colSpan = span;
    tr.appendChild(td);
    tbody.appendChild(tr);
  }

  // ---- data plane --------------------------------------------------------------------------
  function renderDataPlane(update) {
    const snap = update.snapshot;
    const status = $("broker-status");
    state.brokerUp = snap ? Boolean(snap.connected) : null;
    renderStreamStatus();
    if (!snap) {
      status.dataset.state = "unknown";
      setText(status, "polling");
    } else {
      status.dataset.state = snap.connected ? "up" : "down";
      setText(status, snap.connected ? "connected" : "unreachable");
      setText("kpi-latency", snap.latencyMs === null ? "—" : `${fmtNum(snap.latencyMs, 1)} ms`);
      setText("kpi-topic", snap.topic);
      $("kpi-topic").title = snap.topic;
      setText("kpi-offset", fmtInt(snap.latestOffset));
      setText("kpi-partitions", fmtInt(snap.partitions));
      setText("kpi-urp", fmtInt(snap.underReplicatedPartitions));
      $("kpi-urp").classList.toggle("bad", (snap.underReplicatedPartitions || 0) > 0);
      const err = $("broker-error");
      err.hidden = !snap.error;
      setText(err, snap.error || "");
      const known = snap.retentionMs !== null || snap.retentionBytes !== null;
      setText(
        "retention",
        snap.connected && known
          ? `retention ${fmtDuration(snap.retentionMs)} / ${fmtBytes(snap.retentionBytes)}`
          : "",
      );
    }
    renderPartitions(snap, update.lag);
    renderGroups(update.lag);
    renderPublisher(update.stats);
    renderTopics(update.topics);
  }

  function renderPartitions(snap, lag) {
    const tbody = $("partitions").tBodies[0];
    clearChildren(tbody);
    const parts = (snap && snap.partitionDetails) || [];
    if (!parts.length) {
      emptyRow(tbody, 7, snap && snap.connected ? "topic not found" : "no data");
      return;
    }
    const maxLag = new Map();
    for (const g of lag.groups) {
      for (const p of g.partitions) {
        if (p.topic !== snap.topic || p.lag === null) continue;
        const cur = maxLag.get(p.partition);
        if (!cur || p.lag > cur.lag) maxLag.set(p.partition, { lag: p.lag, group: g.group });
      }
    }
    for (const p of parts) {
      const worst = maxLag.get(p.partition);
      tbody.appendChild(row([
        { text: p.partition },
        { text: p.leader === null ? "none" : p.leader, cls: p.leader === null ? "bad" : "" },
        { text: p.replicas.join(",") },
        { text: p.isr.join(","), cls: p.underReplicated ? "bad" : "" },
        { text: fmtInt(p.earliestOffset), cls: "r" },
        { text: fmtInt(p.latestOffset), cls: "r" },
        { text: worst ? fmtInt(worst.lag) : "—", cls: "r", title: worst ? `group ${worst.group}` : "" },
      ]));
    }
  }

  function renderGroups(lag) {
    const tbody = $("groups").tBodies[0];
    clearChildren(tbody);
    // While the broker is unreachable its error is shown once, above; lag adds nothing to it.
    const err = $("lag-error");
    const own = state.brokerUp ? lag.error : null;
    err.hidden = !own;
    setText(err, own || "");
    if (!lag.groups.length) {
      emptyRow(tbody, 6, "no consumer groups");
      return;
    }
    for (const g of lag.groups) {
      const badge = el("span", "badge", g.status);
      badge.dataset.status = g.status;
      badge.title = `state ${g.state}`;
      const main = row([
        { text: g.group, title: `${g.group} (${g.state})` },
        { node: badge },
        { text: fmtInt(g.totalLag), cls: "r" },
        { text: fmtInt(g.maxLag), cls: "r" },
        { text: g.maxLagSeconds === null ? "—" : fmtNum(g.maxLagSeconds, 1), cls: "r" },
        { text: g.members, cls: "r" },
      ]);
      main.className = "group-row";
      tbody.appendChild(main);
      const ruleRow = document.createElement("tr");
      ruleRow.className = "rule-row";
      const td = el("td", null, `${g.state.toLowerCase()} · ${g.rule}`);
      td.colSpan = 6;
      td.title = g.rule;
      ruleRow.appendChild(td);
      tbody.appendChild(ruleRow);
    }
  }

  function kv(dl, pairs) {
    clearChildren(dl);
    for (const [k, v] of pairs) {
      dl.appendChild(el("dt", null, k));
      dl.appendChild(el("dd", null, v));
    }
  }

  function renderPublisher(stats) {
    const p = stats.publisher;
    if (!p) {
      kv($("publisher"), [["status", "no publisher in this process"]]);
    } else {
      kv($("publisher"), [
        ["sent", fmtInt(p.sent)],
        ["delivered", fmtInt(p.delivered)],
        ["failed", fmtInt(p.failed)],
        ["in flight", fmtInt(p.in_flight)],
        ["rate", `${fmtNum(p.rate, 1)} /s`],
        ["bytes", fmtBytes(p.bytes)],
        ["last error", p.last_error || "none"],
      ].concat(p.spool ? [
        ["spool", p.spool.spooling ? `SPOOLING${p.spool.outage ? ` (${p.spool.outage})` : ""}` : "live"],
        ["spooled", `${fmtInt(p.spool.records)} (${fmtBytes(p.spool.bytes)})`],
        ["oldest spooled", p.spool.oldest_age_s === null ? "none" : fmtAge(p.spool.oldest_age_s)],
        ["drain rate", `${fmtNum(p.spool.drain_rate, 1)} /s`],
        ["time to drain", p.spool.time_to_drain_s === null ? "n/a" : fmtDuration(p.spool.time_to_drain_s * 1000)],
        ["spool dropped", fmtInt(p.spool.dropped)],
      ] : []));
    }
    const box = $("components");
    clearChildren(box);
    for (const [name, value] of Object.entries(stats.components || {})) {
      const wrap = el("div", "component");
      wrap.appendChild(el("h4", null, name));
      const dl = el("dl", "kv");
      if (value && typeof value === "object") {
        kv(dl, Object.entries(value).filter(([, v]) => v === null || typeof v !== "object")
          .map(([k, v]) => [k, typeof v === "number" ? fmtInt(v) : String(v)]));
      } else {
        kv(dl, [["status", value === null ? "not running" : String(value)]]);
      }
      wrap.appendChild(dl);
      box.appendChild(wrap);
    }
  }

  function renderTopics(report) {
    const tbody = $("topics").tBodies[0];
    clearChildren(tbody);
    if (!report.topics.length) {
      emptyRow(tbody, 4, state.brokerUp ? report.error || "no topics" : "no data");
      return;
    }
    for (const t of report.topics) {
      tbody.appendChild(row([
        { text: (t.monitored ? "▸ " : "") + t.name, title: t.error || t.name },
        { text: t.partitions, cls: "r" },
        { text: t.replicationFactor, cls: "r" },
        { text: t.underReplicatedPartitions, cls: t.underReplicatedPartitions ? "r bad" : "r" },
      ]));
    }
  }

  // ---- rate chart (hand-written SVG) --------------------------------------------------------
  function renderChart(history) {
    // history: one point per second, null before the view started. The window grows with the
    // data from 1 to 5 minutes so a fresh view still shows a readable line.
    const svg = $("rate-chart");
    clearChildren(svg);
    const W = 440, H = 150, L = 34, R = 6, T = 8, B = 16;
    const all = history || [];
    const valid = all.filter(Boolean).length;
    const span = Math.min(all.length, Math.max(60, valid));
    const pts = all.slice(all.length - span);
    setText("rate-window", `records/s read, last ${span >= 120 ? `${Math.round(span / 60)} min` : `${span} s`}`);
    const max = Math.max(1, ...pts.filter(Boolean).map((p) => p.count));
    const step = niceStep(max / 3);
    const top = Math.ceil(max / step) * step;
    const n = pts.length;
    const x = (i) => L + (i / Math.max(1, n - 1)) * (W - L - R);
    const y = (v) => T + (1 - v / top) * (H - T - B);
    const add = (tag, attrs, text) => {
      const node = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
      if (text !== undefined) node.textContent = text;
      svg.appendChild(node);
      return node;
    };
    for (let v = 0; v <= top + 1e-9; v += step) {
      add("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) });
      add("text", { class: "axis", x: L - 4, y: y(v) + 3, "text-anchor": "end" }, compact(v));
    }
    const tick = span > 120 ? 60 : 15;
    for (let ago = 0; ago < n; ago += tick) {
      const label = ago === 0 ? "now" : tick === 60 ? `-${ago / 60}m` : `-${ago}s`;
      add("text", { class: "axis", x: x(n - 1 - ago), y: H - 4, "text-anchor": ago === 0 ? "end" : "middle" }, label);
    }
    const first = pts.findIndex(Boolean);
    if (first >= 0 && n - first > 1) {
      let d = "";
      for (let i = first; i < n; i += 1) {
        d += `${i === first ? "M" : "L"}${x(i).toFixed(1)},${y(pts[i].count).toFixed(1)}`;
      }
      add("path", { class: "area", d: `${d}L${x(n - 1).toFixed(1)},${y(0)}L${x(first).toFixed(1)},${y(0)}Z` });
      add("path", { class: "line", d });
      add("text", { class: "now", x: L + 6, y: T + 11, "text-anchor": "start" }, `${compact(pts[n - 1].count)}/s`);
    }
  }
  function niceStep(raw) {
    const pow = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-9))));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return Math.max(m * pow, 1);
    return 10 * pow;
  }
  function compact(v) {
    if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
    if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
    return String(+v.toFixed(1));
  }

  // ---- array panel ---------------------------------------------------------------------------
  function shortLabel(e) {
    // element-3-17 at site-3 shows as "3-17"; anything else keeps its full id (CSS ellipsis).
    const m = /^element-(.+)$/.exec(e.elementId);
    return m ? m[1] : e.elementId;
  }

  function tooltip(e) {
    return [
      e.elementId,
      `site ${e.siteId} · ${e.health.toUpperCase()}`,
      `RFI ${fmtNum(e.rfiLevel, 1)} dBm · noise floor ${fmtNum(e.noiseFloor, 1)} dBm`,
      `power ${fmtNum(e.powerUsage, 0)} W · vibration ${fmtNum(e.vibration, 3)} g`,
      `last packet ${fmtAge(e.ageS)} (${e.timestamp})`,
      ...e.reasons,
    ].join("\n");
  }

  function siteBlock(siteId) {
    let s = state.sites.get(siteId);
    if (s) return s;
    const root = el("div", "site");
    root.dataset.siteId = siteId;
    const head = el("div", "site-head");
    head.appendChild(el("span", "site-dot"));
    const name = el("span", "site-name", siteId);
    head.appendChild(name);
    const parts = {};
    for (const [key, label] of [["elements", "elements"], ["health", "ok/warn/alarm/stale"],
      ["meanRfi", "mean RFI"], ["maxRfi", "max RFI"], ["meanNoise", "mean NF"]]) {
      const span = el("span", null, `${label} `);
      const b = el("b", null, "—");
      span.appendChild(b);
      head.appendChild(span);
      parts[key] = b;
    }
    const tiles = el("div", "tiles");
    root.appendChild(head);
    root.appendChild(tiles);
    s = { root, parts, tiles };
    state.sites.set(siteId, s);
    const opt = el("option", null, siteId);
    opt.value = siteId;
    $("site-filter").appendChild(opt);
    return s;
  }

  function makeTile(e) {
    // Clicks, keys and tooltips are handled once for all tiles (see tileEvents).
    const tile = el("div", "tile");
    tile.dataset.elementId = e.elementId;
    tile.tabIndex = 0;
    tile.appendChild(el("span", "t-id", shortLabel(e)));
    const val = el("span", "t-val");
    val.title = "RFI level (dBm)";
    tile.appendChild(val);
    tile.setAttribute("role", "button");
    const rec = { tile, e, rfi: null, health: null, hidden: false, selected: false };
    state.tiles.set(e.elementId, rec);
    return rec;
  }

  function tileEvents(container) {
    const recOf = (ev) => {
      const tile = ev.target.closest && ev.target.closest(".tile");
      return tile ? state.tiles.get(tile.dataset.elementId) : undefined;
    };
    container.addEventListener("click", (ev) => { const r = recOf(ev); if (r) select(r.e.elementId); });
    container.addEventListener("keydown", (ev) => {
      const r = recOf(ev);
      if (r && ev.key === "Enter") select(r.e.elementId);
    });
    // The tooltip is written when it is wanted, not for every tile at every update.
    const explain = (ev) => { const r = recOf(ev); if (r) r.tile.title = tooltip(r.e); };
    container.addEventListener("mouseover", explain);
    container.addEventListener("focusin", explain);
  }

  function renderArray(snap) {
    state.array = snap;
    setText("kpi-records", fmtInt(snap.records));
    setText("kpi-bad", fmtInt(snap.undecodable));
    $("kpi-bad").title = snap.lastDecodeError || "";
    setText("kpi-rate", fmtNum(snap.rate, 1));
    setText("kpi-elements", fmtInt(snap.elements.length));
    const problems = [];
    // The array view's consumer error repeats the broker's while it is unreachable: shown once.
    if (snap.consumerError && state.brokerUp !== false) problems.push(`array view: ${snap.consumerError}`);
    if (snap.untracked) {
      problems.push(`${fmtInt(snap.untracked)} packets from element ids beyond the tracking limit ` +
        `(${fmtInt(snap.elementLimit)} elements)`);
    }
    const aerr = $("array-error");
    aerr.hidden = !problems.length;
    setText(aerr, problems.join(" · "));
    $("array-empty").hidden = snap.elements.length > 0;
    // The current second is still filling up, and seconds before the view started hold no data.
    const started = Math.ceil(snap.startedAt);
    renderChart(snap.rateHistory.slice(0, -1).map((p) => (p.t < started ? null : p)));

    const totals = { ok: 0, warn: 0, alarm: 0, stale: 0 };
    for (const site of snap.sites) {
      const s = siteBlock(site.siteId);
      s.root.dataset.health = site.health;
      setText(s.parts.elements, site.elements);
      setText(s.parts.health, `${site.ok}/${site.warn}/${site.alarm}/${site.stale}`);
      setText(s.parts.meanRfi, site.meanRfi === null ? "—" : `${fmtNum(site.meanRfi)} dBm`);
      setText(s.parts.maxRfi, site.maxRfi === null ? "—" : `${fmtNum(site.maxRfi)} dBm`);
      setText(s.parts.meanNoise, site.meanNoiseFloor === null ? "—" : `${fmtNum(site.meanNoiseFloor)} dBm`);
      totals.ok += site.ok; totals.warn += site.warn; totals.alarm += site.alarm; totals.stale += site.stale;
    }
    for (const k of Object.keys(totals)) setText(`count-${k}`, fmtInt(totals[k]));

    const order = snap.elements.map((e) => e.elementId).join("\u0000");
    // Tens of thousands of tiles: the DOM is touched only where what a tile shows has changed.
    for (const e of snap.elements) {
      const rec = state.tiles.get(e.elementId) || makeTile(e);
      rec.e = e;
      if (rec.rfi === e.rfiLevel && rec.health === e.health) continue;
      rec.rfi = e.rfiLevel;
      rec.health = e.health;
      const rfi = fmtNum(e.rfiLevel, 0);
      const tile = rec.tile;
      tile.dataset.health = e.health;
      tile.lastChild.textContent = `${rfi} dBm`;
      tile.setAttribute("aria-label", `${e.elementId}: RFI ${rfi} dBm, ${e.health}`);
    }
    if (order !== state.order) {
      state.order = order;
      const container = $("sites");
      for (const site of snap.sites) container.appendChild(siteBlock(site.siteId).root);
      for (const e of snap.elements) {
        const rec = state.tiles.get(e.elementId);
        rec.tile.dataset.siteId = e.siteId;
        siteBlock(e.siteId).tiles.appendChild(rec.tile);
      }
    }
    applyFilter();
    renderDetail();
    const t = snap.thresholds;
    setText("thresholds",
      `health: warn RFI > ${t.rfi_warn_dbm} dBm, alarm > ${t.rfi_alarm_dbm} dBm; ` +
      `noise floor warn > ${t.noise_warn_dbm} or < ${t.noise_low_dbm} dBm, alarm > ${t.noise_alarm_dbm} dBm; ` +
      `stale after ${t.stale_after_s} s without a packet.`);
  }

  function applyFilter() {
    const site = $("site-filter").value;
    const problems = $("problems-only").checked;
    const needle = $("element-search").value.trim().toLowerCase();
    for (const [siteId, s] of state.sites) {
      s.root.hidden = site !== "" && site !== siteId;
    }
    for (const [id, rec] of state.tiles) {
      const hide = Boolean((problems && rec.health === "ok") || (needle && !id.toLowerCase().includes(needle)));
      if (rec.hidden !== hide) { rec.hidden = hide; rec.tile.hidden = hide; }
    }
  }

  function select(id) {
    state.selected = id;
    for (const [tid, rec] of state.tiles) {
      const on = tid === id;
      if (rec.selected !== on) { rec.selected = on; rec.tile.classList.toggle("selected", on); }
    }
    renderDetail();
  }

  function renderDetail() {
    const box = $("detail");
    const rec = state.selected && state.tiles.get(state.selected);
    const e = rec && rec.e;
    if (!e) { box.hidden = true; return; }
    box.hidden = false;
    box.dataset.health = e.health;
    setText("detail-title", e.elementId);
    kv($("detail-body"), [
      ["health", e.health.toUpperCase()],
      ["site", e.siteId],
      ["RFI level", `${fmtNum(e.rfiLevel, 2)} dBm`],
      ["noise floor", `${fmtNum(e.noiseFloor, 2)} dBm`],
      ["power", `${fmtNum(e.powerUsage, 1)} W`],
      ["vibration", `${fmtNum(e.vibration, 4)} g`],
      ["route", `${e.sourceId} → ${e.targetId} (${e.routeType})`],
      ["timestamp", e.timestamp],
      ["last packet", fmtAge(e.ageS)],
      ["packets", fmtInt(e.packets)],
      ["data chunk", e.hasChunk ? "yes" : "no"],
      ["partition/offset", `${e.partition} / ${fmtInt(e.offset)}`],
    ]);
    const ul = $("detail-reasons");
    clearChildren(ul);
    for (const r of e.reasons) ul.appendChild(el("li", null, r));
  }

  // ---- records panel: the latest records of one element or partition ----------------------
  async function loadRecords(ev) {
    if (ev) ev.preventDefault();
    const params = new URLSearchParams();
    const element = $("records-element").value.trim();
    const partition = $("records-partition").value.trim();
    if (element) params.set("element", element);
    else if (partition !== "") params.set("partition", partition);
    params.set("limit", $("records-limit").value || "20");
    const error = $("records-error");
    const tbody = $("records-table").querySelector("tbody");
    let body;
    try {
      const res = await fetch("/api/records?" + params.toString(), { credentials: "same-origin" });
      body = await res.json();
      if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : res.statusText);
    } catch (e) {
      error.hidden = false;
      setText(error, e && e.message ? e.message : String(e));
      return;
    }
    error.hidden = true;
    clearChildren(tbody);
    if (!body.records.length) { emptyRow(tbody, 9, "no records"); return; }
    for (const r of body.records.slice().reverse()) { // newest first
      const p = r.packet;
      const m = p ? p.metrics : null;
      const tr = row([
        { text: r.partition, cls: "r" },
        { text: fmtInt(r.offset), cls: "r" },
        { text: r.timestampMs === null ? "—" : new Date(r.timestampMs).toISOString() },
        { text: p ? p.elementId : (r.key === null ? "—" : r.key), cls: "mono" },
        { text: p ? p.siteId : "—" },
        { text: m ? fmtNum(m.rfiLevel, 2) : "—", cls: "r" },
        { text: m ? fmtNum(m.noiseFloor, 2) : "—", cls: "r" },
        { text: m ? fmtNum(m.powerUsage, 1) : "—", cls: "r" },
        { text: p ? p.timestamp : (r.error || "invalid"), title: r.error || undefined },
      ]);
      if (r.error) tr.className = "invalid";
      tbody.appendChild(tr);
    }
  }

  // ---- wiring --------------------------------------------------------------------------------
  // The badge says whether the page shows live data: the stream is up AND the broker answered.
  // "live" (green) needs both; an unreachable broker is "broker down" whatever the stream does.
  function renderStreamStatus() {
    const status = $("stream-status");
    let st = "live";
    let text = "live";
    const stalled = state.lastEvent && Date.now() - state.lastEvent > 10000;
    if (state.stream === "connecting") { st = "unknown"; text = "connecting"; }
    else if (state.stream === "retry") { st = "retry"; text = "reconnecting"; }
    else if (stalled) { st = "retry"; text = "stalled"; }
    else if (state.brokerUp === false) { st = "down"; text = "broker down"; }
    else if (state.brokerUp === null) { st = "unknown"; text = "polling"; }
    if (status.dataset.state !== st) status.dataset.state = st;
    setText(status, text);
    status.title = st === "live" ? "stream connected, broker answering" : text;
  }

  function connect() {
    const source = new EventSource("/api/stream");
    source.onopen = () => { state.stream = "open"; renderStreamStatus(); };
    source.onerror = () => { state.stream = "retry"; renderStreamStatus(); };
    const live = () => {
      state.lastEvent = Date.now();
      if (state.stream !== "open") state.stream = "open";
      renderStreamStatus();
    };
    source.addEventListener("snapshot", (ev) => { live(); renderDataPlane(JSON.parse(ev.data)); });
    // A large array may take longer to draw than the stream's interval: only the newest waiting
    // snapshot is parsed and drawn, older ones are dropped unread.
    source.addEventListener("array", (ev) => {
      live();
      if (state.pendingArray === null) setTimeout(drawArray, 0);
      state.pendingArray = ev.data;
    });
  }

  function drawArray() {
    const data = state.pendingArray;
    state.pendingArray = null;
    if (data !== null) renderArray(JSON.parse(data));
  }

  // ---- broker metrics (the brokers' JMX exporters, when HORIZONS_BROKER_METRICS is set) ------
  function renderBrokers(report) {
    const block = $("brokers-block");
    block.hidden = !report.configured;
    if (!report.configured) return;
    const tbody = $("brokers").tBodies[0];
    clearChildren(tbody);
    for (const b of report.brokers) {
      const host = b.url.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
      const rate = (v) => (v === null ? "—" : `${fmtBytes(v)}/s`);
      tbody.appendChild(row([
        { text: host, title: b.error || b.url, cls: b.up ? "" : "bad" },
        { text: b.up ? rate(b.bytesInPerSec) : "down", cls: "r" },
        { text: b.up ? rate(b.bytesOutPerSec) : "", cls: "r" },
        { text: b.underReplicated === null ? "—" : fmtInt(b.underReplicated),
          cls: "r" + ((b.underReplicated || 0) > 0 ? " bad" : "") },
      ]));
    }
    const urp = report.underReplicated;
    setText("brokers-urp", urp === null ? "" : `under-replicated ${fmtInt(urp)}`);
  }

  function pollBrokers() {
    fetch("/api/brokers/metrics", { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((report) => { if (report) renderBrokers(report); })
      .catch(() => {});
  }

  function tick() {
    setText("clock", new Date().toISOString().replace("T", " ").slice(0, 19) + "Z");
    renderStreamStatus();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("site-filter").addEventListener("change", applyFilter);
    $("problems-only").addEventListener("change", applyFilter);
    $("element-search").addEventListener("input", applyFilter);
    $("detail-close").addEventListener("click", () => select(null));
    $("records-form").addEventListener("submit", loadRecords);
    $("detail-records").addEventListener("click", () => {
      $("records-element").value = state.selected || "";
      loadRecords();
    });
    tileEvents($("sites"));
    tick();
    setInterval(tick, 1000);
    connect();
    pollBrokers();
    setInterval(pollBrokers, 5000);
  });
})();
