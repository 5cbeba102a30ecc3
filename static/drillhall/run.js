/*
 * The live run page: follows one run's event stream over a websocket.
 *
 * The server replays stored events after ?after=<seq> and then pushes live ones, in seq
 * order. This page keeps the last seq it applied, applies each event once, and on a dropped
 * connection reconnects with backoff from that seq, so nothing is lost or shown twice.
 * A page load starts from 0 and rebuilds everything from the replay, so what the page shows
 * (charts, badges, the live RTO and RPO counters) is the same whether events arrived live or
 * replayed after a reload.
 */
(function () {
  "use strict";

  const root = document.getElementById("run");
  if (!root) {
    return;
  }

  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 10000;
  const POLL_MS = 2000;
  const LOG_MAX_LINES = 5000;
  const CHART_MAX_POINTS = 20000;
  const CHART_HEIGHT = 260;
  const KERNEL_CHART_HEIGHT = 160;
  const KERNEL_CHART_MIN_WIDTH = 240;
  // Metric names come from agents' messages: a bound keeps a forged stream from making
  // thousands of charts.
  const KERNEL_MAX_METRICS = 64;
  const COLORS = ["#2563eb", "#7c3aed", "#0891b2", "#65a30d", "#c2410c", "#db2777"];
  const KERNEL_PREFIX = "kernel.";
  // The live RTO counter redraws this often while it runs; fine enough for tenths of a second.
  const TICK_MS = 100;

  function readJson(id, fallback) {
    const el = document.getElementById(id);
    if (!el) {
      return fallback;
    }
    try {
      return JSON.parse(el.textContent);
    } catch (err) {
      console.warn("run page: bad JSON in #" + id, err);
      return fallback;
    }
  }

  const TERMINAL = new Set(readJson("terminal-states", ["passed", "failed", "aborted", "error"]));

  const view = {
    state: document.getElementById("run-state"),
    reason: document.getElementById("run-reason"),
    rto: document.getElementById("rto"),
    rtoObjective: document.getElementById("rto-objective"),
    rpo: document.getElementById("rpo"),
    log: document.getElementById("event-log"),
    abortForm: document.getElementById("abort-form"),
    resumeForm: document.getElementById("resume-form"),
    slaList: document.getElementById("sla-list"),
    faultList: document.getElementById("fault-list"),
    connection: document.getElementById("connection"),
    chart: document.getElementById("chart"),
    chartStatus: document.getElementById("chart-status"),
    kernelSection: document.getElementById("kernel-section"),
    collectorList: document.getElementById("collector-list"),
    kernelCharts: document.getElementById("kernel-charts"),
    kernelStatus: document.getElementById("kernel-status"),
    kernelAll: document.getElementById("kernel-all"),
    kernelCount: document.getElementById("kernel-count"),
    showAllMetrics: document.getElementById("show-all-metrics"),
  };

  // Seconds on the server's clock, which stamps every event: the page was rendered at
  // data-server-now, and performance.now() is monotonic, so a wrong browser clock cannot
  // make the live RTO counter jump.
  const clock = {
    base: Number(root.dataset.serverNow) || Date.now() / 1000,
    at: window.performance.now(),
    now: function () {
      return this.base + (window.performance.now() - this.at) / 1000;
    },
    saw: function (t) {
      // An event cannot come from the future: if one seems to, the page's estimate is late.
      const now = this.now();
      if (typeof t === "number" && t > now) {
        this.base += t - now;
      }
    },
  };

  // Everything the page knows, rebuilt from events alone.
  const run = {
    lastSeq: 0,
    origin: null, // unix time of the first event: x = 0 on the chart
    state: root.dataset.state || "",
    finished: false,
    faults: new Map(), // fault_id -> {host, kind, mechanism, state, start, end}
    // RTO counts from the first fault applied (from the start of recovery when there is
    // none), as the engine measures it; `final` stays undefined until the result says.
    rto: { origin: null, final: undefined, objective: null },
    // Canary writes: each acknowledged one carries a seq, a failed one has ok=false.
    rpo: {
      canaries: new Set(readJson("run-canaries", [])),
      acknowledged: 0,
      failed: new Map(), // probe -> failed samples, counted for every probe in case it is a canary
      final: null,
    },
  };
  function rel(t) {
    return Math.round((t - run.origin) * 1000) / 1000;
  }

  function fmt(value, digits) {
    return typeof value === "number" ? value.toFixed(digits) : "—";
  }

  /* ---- applying events ------------------------------------------------------------ */

  function apply(event) {
    if (!event || typeof event.seq !== "number" || event.seq <= run.lastSeq) {
      return;
    }
    run.lastSeq = event.seq;
    if (run.origin === null && event.type !== "queued") {
      run.origin = event.t; // time spent queued before the start is not the drill's
    }
    clock.saw(event.t);
    const data = event.data || {};
    const handler = handlers[event.type];
    if (handler) {
      try {
        handler(data, event);
      } catch (err) {
        console.error("run page: could not apply event", event, err);
      }
    }
    appendLog(event, data);
  }

  const handlers = {
    queued: function (d) {
      // Admission holds the pending run back: how many start before it, and why.
      if (run.state === "pending") {
        view.state.textContent = "queued, " + d.ahead + " ahead";
        view.reason.textContent = d.reason || "";
        run.queueReason = view.reason.textContent;
      }
    },
    state: function (d, e) {
      if (run.queueReason !== undefined && view.reason.textContent === run.queueReason) {
        view.reason.textContent = ""; // it started: the queue's reason is over
        run.queueReason = undefined;
      }
      if (d.state === "recovering" && run.rto.origin === null) {
        run.rto.origin = e.t; // a drill without faults: the engine judges recovery from here
      }
      setState(d.state);
      renderRto();
    },
    step_started: function (d) {
      markStep(topStep(d), "active");
    },
    step_finished: function (d) {
      markStep(topStep(d), "done");
    },
    fault_applied: function (d, e) {
      if (run.rto.origin === null) {
        run.rto.origin = e.t;
        renderRto();
      }
      run.faults.set(d.fault_id, {
        host: d.host, kind: d.kind, mechanism: d.mechanism, state: "applied", start: rel(e.t), end: null,
      });
      renderFaults();
      scheduleChart();
    },
    fault_reverted: function (d, e) {
      const fault = faultFor(d, e);
      fault.state = d.state || "reverted";
      fault.end = rel(e.t);
      renderFaults();
      scheduleChart();
    },
    fault_unconfirmed: function (d, e) {
      // The revert was not confirmed: the fault may still be on, so its window stays open.
      faultFor(d, e).state = "unconfirmed";
      renderFaults();
    },
    sample: function (d, e) {
      if (isKernel(d)) {
        addKernelSample(d, rel(e.t));
      } else {
        addSample(d, rel(e.t));
        countWrite(d);
      }
    },
    verdict: function (d) {
      setSla(d.sla, d.state, d.reason || "");
    },
    collectors: function (d) {
      addCollectors(d);
    },
    no_effect: function (d, e) {
      // The kernel saw nothing of this fault (judged), or evidence was missing (not judged).
      const fault = faultFor(d, e);
      fault.effect = d.judged ? "none" : "unknown";
      fault.effectMessage = d.message || "";
      renderFaults();
    },
    abort: function (d) {
      setReason("abort: " + (d.reason || ""));
    },
    rpo: function (d) {
      run.rpo.final = d;
      renderRpo();
    },
    paused: function (d) {
      setReason("paused at step " + (d.path || d.step) + ": press Resume to go on");
      if (view.resumeForm && !run.finished) {
        view.resumeForm.hidden = false;
      }
    },
    resumed: function () {
      setReason("");
      if (view.resumeForm) {
        view.resumeForm.hidden = true;
      }
    },
    error: function (d) {
      setReason("error: " + (d.message || ""));
    },
    approval: function (d) {
      showApproval(d);
    },
    result: function (d) {
      setState(d.state);
      Object.keys(d.verdicts || {}).forEach(function (name) {
        setSla(name, d.verdicts[name]);
      });
      run.rto.final = typeof d.rto === "number" ? d.rto : null;
      run.rto.objective = typeof d.rto_objective === "number" ? d.rto_objective : null;
      renderRto();
      if (d.rpo && !run.rpo.final) {
        run.rpo.final = d.rpo;
        renderRpo();
      }
      if (d.reason) {
        setReason(d.reason);
      }
      run.finished = true;
    },
  };

  function setState(state) {
    if (!state) {
      return;
    }
    run.state = state;
    view.state.textContent = stateLabel(state);
    view.state.className = "badge big state-" + String(state).replace(/ /g, "-");
    root.dataset.state = state;
    if (TERMINAL.has(state)) {
      run.finished = true;
      if (view.abortForm) {
        view.abortForm.hidden = true;
      }
      if (view.resumeForm) {
        view.resumeForm.hidden = true;
      }
    }
  }

  function stateLabel(state) {
    return String(state).replace(/_/g, " ");
  }

  // The approval card of a run that faults protected hosts: the decision, once it is made.
  function showApproval(d) {
    const card = document.getElementById("approval");
    if (!card || !d.decision || d.decision === "requested") {
      return;
    }
    card.dataset.decision = d.decision;
    const status = document.getElementById("approval-status");
    if (status) {
      status.textContent = d.decision === "approved"
        ? "Approved by " + d.by + " at " + String(d.approved_at || "").replace("T", " ").slice(0, 19) +
          " UTC for " + d.playbook + " v" + d.version + ", content sha256 " + d.content_hash + "."
        : "Not approved: " + (d.message || d.decision) + ".";
    }
    const actions = document.getElementById("approval-actions");
    if (actions) {
      actions.remove();
    }
  }

  function setReason(text) {
    if (view.reason) {
      view.reason.textContent = text;
    }
  }

  /* ---- RTO and RPO counters ------------------------------------------------------ */

  let rtoTimer = null;

  function renderRto() {
    const rto = run.rto;
    if (rto.final !== undefined) {
      stopRtoTimer();
      view.rto.textContent = typeof rto.final === "number" ? rto.final.toFixed(1) + " s" : "—";
      view.rto.dataset.live = "false";
      if (view.rtoObjective) {
        view.rtoObjective.textContent = rto.objective === null ? "" : "objective " + rto.objective.toFixed(1) + " s";
      }
      return;
    }
    if (rto.origin === null) {
      return; // nothing to count from yet: the server-rendered text stays
    }
    const elapsed = Math.max(0, clock.now() - rto.origin);
    view.rto.textContent = elapsed.toFixed(1) + " s… (" + (run.state || "running") + ")";
    view.rto.dataset.live = "true";
    if (rtoTimer === null) {
      // Ticks without new events: the clock, not the stream, moves this counter.
      rtoTimer = window.setInterval(renderRto, TICK_MS);
    }
  }

  function stopRtoTimer() {
    if (rtoTimer !== null) {
      window.clearInterval(rtoTimer);
      rtoTimer = null;
    }
  }

  function countWrite(d) {
    const rpo = run.rpo;
    if (typeof d.seq === "number") {
      rpo.canaries.add(d.probe); // only canaries acknowledge writes with a seq
      rpo.acknowledged += 1;
    }
    if (!d.ok) {
      rpo.failed.set(d.probe, (rpo.failed.get(d.probe) || 0) + 1);
    }
    if (rpo.canaries.has(d.probe)) {
      renderRpo();
    }
  }

  function failedWrites() {
    let failed = 0;
    run.rpo.failed.forEach(function (count, probe) {
      if (run.rpo.canaries.has(probe)) {
        failed += count;
      }
    });
    return failed;
  }

  function renderRpo() {
    const rpo = run.rpo;
    if (!view.rpo) {
      return;
    }
    if (rpo.final) {
      const d = rpo.final;
      view.rpo.textContent = d.lost + " of " + d.acknowledged + " acknowledged writes lost" +
        (d.lost ? " (over " + d.span_seconds + " s)" : "") + (d.error ? " — " + d.error : "");
      view.rpo.dataset.live = "false";
      return;
    }
    const failed = failedWrites();
    view.rpo.textContent = rpo.acknowledged + " acknowledged, " + failed + " failed writes so far…";
    view.rpo.dataset.live = "true";
    view.rpo.dataset.acknowledged = String(rpo.acknowledged);
    view.rpo.dataset.failed = String(failed);
  }

  function setSla(name, state, reason) {
    if (!name || !state) {
      return;
    }
    let badge = null;
    view.slaList.querySelectorAll("[data-sla]").forEach(function (el) {
      if (el.dataset.sla === name) {
        badge = el;
      }
    });
    if (!badge) {
      badge = addSlaRow(name);
    }
    badge.dataset.state = state;
    badge.textContent = state;
    badge.className = "badge state-" + String(state).replace(/ /g, "-");
    const reasonEl = badge.closest(".sla").querySelector(".sla-reason");
    // A verdict always says why (or clears the why); the final result only names states.
    if (reasonEl && reason !== undefined) {
      reasonEl.textContent = reason;
    }
  }

  function addSlaRow(name) {
    // A verdict for an SLA the outline did not list (e.g. the playbook could not be parsed).
    const empty = view.slaList.querySelector(".sla-empty");
    if (empty) {
      empty.remove();
    }
    const li = document.createElement("li");
    li.className = "sla";
    const line = document.createElement("div");
    line.className = "sla-line";
    const label = document.createElement("span");
    label.className = "sla-name";
    label.textContent = name;
    const badge = document.createElement("span");
    badge.dataset.sla = name;
    const reason = document.createElement("div");
    reason.className = "sla-reason muted";
    line.append(label, " ", badge);
    li.append(line, reason);
    view.slaList.append(li);
    return badge;
  }

  // The page lists the playbook's own steps; the plan's path ("3", "3.2", "4[2].1") starts
  // with the number of the playbook step it belongs to.
  function topStep(d) {
    return parseInt(String(d.path || d.step), 10);
  }

  function markStep(number, status) {
    const row = document.querySelector('#step-list [data-step="' + Number(number) + '"]');
    if (row) {
      row.classList.remove("active", "done");
      row.classList.add(status);
    }
  }

  function faultFor(d, e) {
    let fault = run.faults.get(d.fault_id);
    if (!fault) {
      // Replay can begin after the apply (never on a fresh page, but be lenient).
      fault = { host: d.host, kind: "", mechanism: "", state: "", start: rel(e.t), end: null };
      run.faults.set(d.fault_id, fault);
    }
    return fault;
  }

  function addCollectors(d) {
    // One line per host: which collectors run there, and whether from eBPF or /proc (and why).
    if (!view.collectorList) {
      return;
    }
    if (view.kernelSection) {
      view.kernelSection.hidden = false;
    }
    const li = document.createElement("li");
    li.dataset.host = d.host;
    const parts = (d.collectors || []).map(function (c) {
      const how = c.source === "ebpf" ? "eBPF" : c.source === "proc" ? "from /proc" : "not running";
      return c.name + " (" + how + ")";
    });
    li.textContent = d.host + ": " + parts.join(", ");
    li.title = (d.collectors || []).map(function (c) { return c.name + ": " + c.reason; }).join("\n");
    if ((d.collectors || []).some(function (c) { return c.source !== "ebpf"; })) {
      li.className = "degraded";
    }
    view.collectorList.append(li);
  }

  function renderFaults() {
    const items = [];
    run.faults.forEach(function (f, id) {
      const li = document.createElement("li");
      li.dataset.fault = id;
      li.dataset.state = f.state;
      const badge = document.createElement("span");
      badge.className = "badge state-fault-" + f.state;
      badge.textContent = f.state;
      const end = f.end === null ? "…" : fmt(f.end, 1) + " s";
      li.append(badge, " " + [f.kind, "on", f.host].join(" ") + " (" + fmt(f.start, 1) + " s → " + end + ")");
      if (f.effect) {
        const note = document.createElement("span");
        note.className = "no-effect" + (f.effect === "none" ? " bad" : "");
        note.dataset.effect = f.effect;
        note.textContent = f.effectMessage;
        li.append(document.createElement("br"), note);
      }
      items.push(li);
    });
    view.faultList.replaceChildren.apply(view.faultList, items);
  }

  function summary(type, d) {
    switch (type) {
      case "state":
        return (d.previous ? stateLabel(d.previous) + " → " : "") + stateLabel(d.state);
      case "approval":
        return d.message || d.decision;
      case "step_started":
        return "step " + (d.path || d.step) + " " + (d.name ? "“" + d.name + "” " : "") + "started" +
          (d.fault ? ": " + d.fault + " on " + (d.host || d.target) : "") +
          (typeof d.duration === "number" ? " for " + d.duration + " s" : "");
      case "step_finished":
        return "step " + (d.path || d.step) + " finished";
      case "fault_applied":
        return d.kind + " applied on " + d.host + " via " + d.mechanism + " (" + d.fault_id + ")";
      case "fault_reverted":
        return d.fault_id + " on " + d.host + ": " + (d.state || "reverted");
      case "fault_unconfirmed":
        return d.fault_id + " on " + d.host + ": revert NOT confirmed";
      case "lease_warning":
        return d.fault_id + ": " + d.message;
      case "silence":
        return d.message || ("silence " + d.silence_id + " on " + d.host + ": " + d.state);
      case "fault_ended_early":
        return d.message || (d.fault_id + " on " + d.host + " ended before its step did");
      case "collectors":
        return "kernel collectors on " + d.host + ": " + (d.collectors || []).map(function (c) {
          return c.name + " (" + (c.source || "not running") + ")";
        }).join(", ");
      case "no_effect":
        return d.fault_id + ": " + d.message;
      case "sample":
        if (isKernel(d)) {
          return d.probe + " on " + d.host + ": " + fmt(d.value, 2) + (d.source === "proc" ? " (from /proc)" : "");
        }
        return d.probe + " " + (d.ok ? "ok" : "FAILED") +
          (typeof d.seq === "number" ? " write #" + d.seq : "") +
          (typeof d.value === "number" ? " value " + d.value : "") +
          (typeof d.latency_ms === "number" ? " " + d.latency_ms.toFixed(1) + " ms" : "") +
          (d.status !== null && d.status !== undefined ? " status " + d.status : "") +
          (d.error ? " (" + d.error + ")" : "");
      case "verdict":
        return d.sla + ": " + d.state + (typeof d.value === "number" ? " (" + d.value + ")" : "") +
          (d.reason ? " — " + d.reason : "");
      case "abort":
        return d.reason || "";
      case "rpo":
        return d.lost + " of " + d.acknowledged + " acknowledged writes lost";
      case "paused":
        return "paused at step " + (d.path || d.step) + " (" + (d.name || "") + ")";
      case "resumed":
        return "resumed at step " + (d.path || d.step);
      case "error":
        return d.message || "";
      case "result":
        return d.state + (typeof d.rto === "number" ? ", RTO " + d.rto.toFixed(1) + " s" : "") +
          (d.reason ? " — " + d.reason : "");
      default:
        return JSON.stringify(d);
    }
  }

  function appendLog(event, data) {
    const log = view.log;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    const li = document.createElement("li");
    li.dataset.seq = String(event.seq);
    li.dataset.type = event.type;
    li.className = "ev ev-" + event.type;
    const when = document.createElement("span");
    when.className = "ev-t";
    when.textContent = run.origin === null ? "queued" : "+" + fmt(rel(event.t), 1) + "s";
    const type = document.createElement("span");
    type.className = "ev-type";
    type.textContent = event.type;
    // The server's sentence for the event (the report's and the CLI's); the local summary
    // only for a message from an older server.
    li.append(when, " ", type, " ", typeof event.text === "string" ? event.text : summary(event.type, data));
    log.append(li);
    while (log.childElementCount > LOG_MAX_LINES) {
      log.firstElementChild.remove();
    }
    if (atBottom) {
      log.scrollTop = log.scrollHeight;
    }
  }

  /* ---- charts --------------------------------------------------------------------- */

  const haveUplot = typeof window.uPlot === "function";
  if (!haveUplot) {
    console.warn("run page: uPlot is not loaded; the live charts are off, everything else works");
    if (view.chartStatus) {
      view.chartStatus.textContent = "Chart unavailable (uPlot not loaded).";
    }
  }

  function drawFaultWindows(u) {
    const xMax = u.scales.x.max;
    if (xMax === null || xMax === undefined) {
      return;
    }
    const box = u.bbox;
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(245, 158, 11, 0.18)"; // amber: a fault is on (errors are red)
    run.faults.forEach(function (f) {
      const x0 = Math.max(u.valToPos(f.start, "x", true), box.left);
      const x1 = Math.min(u.valToPos(f.end === null ? xMax : f.end, "x", true), box.left + box.width);
      if (x1 > x0) {
        ctx.fillRect(x0, box.top, x1 - x0, box.height);
      }
    });
    ctx.restore();
  }

  /*
   * One live chart: series keyed by name, all aligned on one x array (null where another
   * series sampled). spec.series(meta, index) and spec.axes(metas) describe it; a new series
   * or a changed label rebuilds the uPlot, because its series are fixed at creation.
   */
  function liveChart(el, spec) {
    const keys = [];
    const metas = new Map();
    const values = new Map();
    const x = [];
    const errors = spec.errors ? [] : null;
    let plot = null;
    let dirty = false;

    function discard() {
      if (plot) {
        plot.destroy();
        plot = null;
      }
    }

    function ensure(key, meta) {
      const known = metas.get(key);
      if (!known) {
        keys.push(key);
        values.set(key, new Array(x.length).fill(null));
        discard();
      } else if (known.label !== meta.label || known.scale !== meta.scale) {
        discard();
      }
      metas.set(key, meta);
    }

    function add(at, key, value, failed) {
      x.push(at);
      values.forEach(function (column, name) {
        column.push(name === key && typeof value === "number" ? value : null);
      });
      if (errors) {
        errors.push(failed ? 1 : 0);
      }
      if (x.length > CHART_MAX_POINTS) {
        x.shift();
        values.forEach(function (column) {
          column.shift();
        });
        if (errors) {
          errors.shift();
        }
      }
      schedule();
    }

    function data() {
      const columns = [x];
      keys.forEach(function (key) {
        columns.push(values.get(key));
      });
      if (errors) {
        columns.push(errors);
      }
      return columns;
    }

    function build() {
      const ordered = keys.map(function (key) {
        return metas.get(key);
      });
      const series = [{ label: "t (s)" }].concat(ordered.map(spec.series));
      if (errors) {
        const err = { label: "errors", scale: "err", stroke: "#dc2626", fill: "rgba(220, 38, 38, 0.15)", width: 1 };
        if (uPlot.paths && uPlot.paths.stepped) {
          err.paths = uPlot.paths.stepped({ align: 1 });
        }
        series.push(err);
      }
      const opts = {
        width: Math.max(el.clientWidth, spec.minWidth || 300),
        height: spec.height,
        scales: Object.assign({ x: { time: false } }, spec.scales || {}),
        series: series,
        axes: [{ label: "seconds since start" }].concat(spec.axes(ordered)),
        // Drawn after the axes and before the series, so the lines stay on top.
        hooks: { drawAxes: [drawFaultWindows] },
      };
      return new uPlot(opts, data(), el);
    }

    function schedule() {
      if (!haveUplot || dirty) {
        return;
      }
      dirty = true;
      // At most one redraw per frame, however fast samples arrive.
      window.requestAnimationFrame(function () {
        dirty = false;
        if (!keys.length && !errors) {
          return;
        }
        try {
          if (!plot) {
            plot = build();
          } else {
            plot.setData(data());
          }
        } catch (err) {
          console.error("run page: chart failed", err);
        }
      });
    }

    function resize() {
      if (plot) {
        plot.setSize({ width: Math.max(el.clientWidth, spec.minWidth || 300), height: spec.height });
      }
    }

    return { ensure: ensure, add: add, schedule: schedule, resize: resize };
  }

  // Every probe's latency, with failed samples as a red step below.
  const probeChart = liveChart(view.chart, {
    height: CHART_HEIGHT,
    errors: true,
    scales: { err: { range: [0, 1] } },
    series: function (meta, i) {
      return { label: meta.label, scale: "ms", stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true };
    },
    axes: function () {
      return [
        { scale: "ms", label: "latency (ms)" },
        { scale: "err", side: 1, label: "errors", grid: { show: false }, splits: [0, 1] },
      ];
    },
  });

  function addProbe(name) {
    probeChart.ensure(name, { label: name + " latency (ms)", scale: "ms" });
  }

  function addSample(d, x) {
    if (!d.probe) {
      return;
    }
    addProbe(d.probe);
    probeChart.add(x, d.probe, d.latency_ms, !d.ok);
  }

  /*
   * Kernel evidence as small multiples: one chart per metric, one series per host (and
   * source, eBPF or /proc). A metric whose every series kept its first value did not move
   * during the run: its chart stays hidden unless "show all N metrics" is ticked.
   */
  const kernel = {
    metrics: new Map(), // name -> {figure, chart, first: Map(series key -> first value), moved}
    showAll: Boolean(view.showAllMetrics && view.showAllMetrics.checked),
  };

  function isKernel(d) {
    return typeof d.probe === "string" && d.probe.indexOf(KERNEL_PREFIX) === 0;
  }

  function kernelMetric(name) {
    let metric = kernel.metrics.get(name);
    if (metric || !view.kernelCharts || kernel.metrics.size >= KERNEL_MAX_METRICS) {
      return metric || null;
    }
    const latency = /_ms$/.test(name);
    const figure = document.createElement("figure");
    figure.className = "kernel-metric";
    figure.dataset.metric = name;
    figure.hidden = true;
    const caption = document.createElement("figcaption");
    caption.textContent = name + (latency ? " (ms)" : " (count per interval)");
    const el = document.createElement("div");
    el.className = "chart";
    figure.append(caption, el);
    view.kernelCharts.append(figure);
    const chart = liveChart(el, {
      height: KERNEL_CHART_HEIGHT,
      minWidth: KERNEL_CHART_MIN_WIDTH,
      errors: false,
      series: function (meta, i) {
        return { label: meta.label, scale: "y", stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true };
      },
      axes: function () {
        return [{ scale: "y", size: 44 }];
      },
    });
    metric = { figure: figure, chart: chart, first: new Map(), moved: false };
    kernel.metrics.set(name, metric);
    return metric;
  }

  function addKernelSample(d, x) {
    if (view.kernelSection) {
      view.kernelSection.hidden = false;
    }
    const metric = kernelMetric(d.probe.slice(KERNEL_PREFIX.length));
    if (!metric) {
      return;
    }
    const host = typeof d.host === "string" && d.host ? d.host : "?";
    const source = d.source === "proc" ? "from /proc" : d.source === "ebpf" ? "eBPF" : "";
    const key = host + "@" + (d.source || "");
    metric.chart.ensure(key, { label: source ? host + " (" + source + ")" : host, scale: "y" });
    metric.chart.add(x, key, d.value, false);
    if (typeof d.value === "number") {
      if (!metric.first.has(key)) {
        metric.first.set(key, d.value);
      } else if (metric.first.get(key) !== d.value) {
        metric.moved = true;
      }
    }
    renderKernel();
  }

  function renderKernel() {
    let moved = 0;
    kernel.metrics.forEach(function (metric) {
      if (metric.moved) {
        moved += 1;
      }
      const hidden = !(metric.moved || kernel.showAll);
      if (metric.figure.hidden !== hidden) {
        metric.figure.hidden = hidden;
        if (!hidden) {
          // Built while hidden, it has the minimum width: fit it to its cell now.
          window.requestAnimationFrame(metric.chart.resize);
        }
      }
    });
    const total = kernel.metrics.size;
    if (view.kernelStatus) {
      view.kernelStatus.textContent = moved + " of " + total + (total === 1 ? " metric" : " metrics") +
        " changed during the run" + (moved < total && !kernel.showAll ? "; the unchanged are hidden." : ".");
    }
    if (view.kernelCount) {
      view.kernelCount.textContent = String(total);
    }
    if (view.kernelAll) {
      view.kernelAll.hidden = moved === total && !kernel.showAll;
    }
  }

  if (view.showAllMetrics) {
    view.showAllMetrics.addEventListener("change", function () {
      kernel.showAll = view.showAllMetrics.checked;
      renderKernel();
    });
  }

  function scheduleChart() {
    // Fault windows changed: every chart shades them.
    probeChart.schedule();
    kernel.metrics.forEach(function (metric) {
      metric.chart.schedule();
    });
  }

  window.addEventListener("resize", function () {
    probeChart.resize();
    kernel.metrics.forEach(function (metric) {
      metric.chart.resize();
    });
  });

  /* ---- connection ----------------------------------------------------------------- */

  let failures = 0;
  let catchingUp = false;

  function setConnection(text) {
    if (view.connection) {
      view.connection.textContent = text;
    }
  }

  // The JSON endpoint: used while the websocket is down, and where there is none.
  function catchUp() {
    if (catchingUp) {
      return Promise.resolve();
    }
    catchingUp = true;
    const url = root.dataset.eventsUrl + "?after=" + run.lastSeq;
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (body) {
        (body.events || []).forEach(apply);
        catchingUp = false;
        if (body.more) {
          return catchUp();
        }
        return undefined;
      })
      .catch(function (err) {
        catchingUp = false;
        console.warn("run page: catch-up failed", err);
      });
  }

  function poll() {
    catchUp().then(function () {
      if (!run.finished) {
        window.setTimeout(poll, POLL_MS);
      } else {
        setConnection("finished");
      }
    });
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = scheme + "//" + window.location.host + root.dataset.wsPath + "?after=" + run.lastSeq;
    const socket = new WebSocket(url);
    socket.onopen = function () {
      setConnection(run.finished ? "finished" : "live");
    };
    socket.onmessage = function (message) {
      failures = 0;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        console.warn("run page: ignoring a message that is not JSON", err);
        return;
      }
      apply(event);
      if (run.finished) {
        setConnection("finished");
      }
    };
    socket.onclose = function () {
      if (run.finished) {
        setConnection("finished");
        return;
      }
      failures += 1;
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * Math.pow(2, failures - 1));
      const jittered = delay * (0.8 + Math.random() * 0.4);
      setConnection("disconnected, retrying in " + Math.ceil(jittered / 1000) + " s");
      if (failures >= 2) {
        catchUp();
      }
      window.setTimeout(connect, jittered);
    };
  }

  // The probes the playbook declares, so the chart's series keep their colours.
  readJson("run-probes", []).forEach(addProbe);

  // Samples are most of a run's events; hiding them leaves the milestones (CSS only: the log
  // keeps every event, so unticking and ticking loses nothing).
  const showSamples = document.getElementById("show-samples");
  if (showSamples) {
    showSamples.addEventListener("change", function () {
      view.log.classList.toggle("no-samples", !showSamples.checked);
    });
  }

  if ("WebSocket" in window) {
    connect();
  } else {
    setConnection("polling");
    poll();
  }
})();
