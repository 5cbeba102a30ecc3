/*
 * The live run page: follows one run's event stream over a websocket.
 *
 * The server replays stored events after ?after=<seq> and then pushes live ones, in seq
 * order. This page keeps the last seq it applied, applies each event once, and on a dropped
 * connection reconnects with backoff from that seq, so nothing is lost or shown twice.
 * A page load starts from 0 and rebuilds everything from the replay.
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
  const COLORS = ["#2563eb", "#7c3aed", "#0891b2", "#65a30d", "#c2410c", "#db2777"];

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
    log: document.getElementById("event-log"),
    abortForm: document.getElementById("abort-form"),
    resumeForm: document.getElementById("resume-form"),
    slaList: document.getElementById("sla-list"),
    faultList: document.getElementById("fault-list"),
    connection: document.getElementById("connection"),
    chart: document.getElementById("chart"),
    chartStatus: document.getElementById("chart-status"),
  };

  // Everything the page knows, rebuilt from events alone.
  const run = {
    lastSeq: 0,
    origin: null, // unix time of the first event: x = 0 on the chart
    finished: false,
    faults: new Map(), // fault_id -> {host, kind, mechanism, state, start, end}
    probes: [], // probe names in series order
    x: [],
    latency: new Map(), // probe -> latencies aligned with x (null where another probe sampled)
    errors: [],
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
    if (run.origin === null) {
      run.origin = event.t;
    }
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
    state: function (d) {
      setState(d.state);
    },
    step_started: function (d) {
      markStep(d.step, "active");
    },
    step_finished: function (d) {
      markStep(d.step, "done");
    },
    fault_applied: function (d, e) {
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
      addSample(d, rel(e.t));
    },
    verdict: function (d) {
      setSla(d.sla, d.state, d.reason || "");
    },
    abort: function (d) {
      setReason("abort: " + (d.reason || ""));
    },
    rpo: function (d) {
      const el = document.getElementById("rpo");
      if (el) {
        el.textContent = d.lost + " of " + d.acknowledged + " acknowledged writes lost" +
          (d.lost ? " (over " + d.span_seconds + " s)" : "") + (d.error ? " — " + d.error : "");
      }
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
    result: function (d) {
      setState(d.state);
      Object.keys(d.verdicts || {}).forEach(function (name) {
        setSla(name, d.verdicts[name]);
      });
      setRto(d.rto, d.rto_objective);
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
    view.state.textContent = state;
    view.state.className = "badge big state-" + state;
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

  function setReason(text) {
    if (view.reason) {
      view.reason.textContent = text;
    }
  }

  function setRto(rto, objective) {
    view.rto.textContent = typeof rto === "number" ? rto.toFixed(1) + " s" : "—";
    if (view.rtoObjective) {
      view.rtoObjective.textContent = typeof objective === "number" ? "objective " + objective.toFixed(1) + " s" : "";
    }
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
    badge.className = "badge state-" + state;
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
      items.push(li);
    });
    view.faultList.replaceChildren.apply(view.faultList, items);
  }

  function summary(type, d) {
    switch (type) {
      case "state":
        return (d.previous ? d.previous + " → " : "") + d.state;
      case "step_started":
        return "step " + d.step + " " + (d.name ? "“" + d.name + "” " : "") + "started" +
          (d.fault ? ": " + d.fault + " on " + (d.host || d.target) : "") +
          (typeof d.duration === "number" ? " for " + d.duration + " s" : "");
      case "step_finished":
        return "step " + d.step + " finished";
      case "fault_applied":
        return d.kind + " applied on " + d.host + " via " + d.mechanism + " (" + d.fault_id + ")";
      case "fault_reverted":
        return d.fault_id + " on " + d.host + ": " + (d.state || "reverted");
      case "fault_unconfirmed":
        return d.fault_id + " on " + d.host + ": revert NOT confirmed";
      case "lease_warning":
        return d.fault_id + ": " + d.message;
      case "sample":
        return d.probe + " " + (d.ok ? "ok" : "FAILED") +
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
    when.textContent = "+" + fmt(rel(event.t), 1) + "s";
    const type = document.createElement("span");
    type.className = "ev-type";
    type.textContent = event.type;
    li.append(when, " ", type, " ", summary(event.type, data));
    log.append(li);
    while (log.childElementCount > LOG_MAX_LINES) {
      log.firstElementChild.remove();
    }
    if (atBottom) {
      log.scrollTop = log.scrollHeight;
    }
  }

  /* ---- chart ---------------------------------------------------------------------- */

  let chart = null;
  let chartDirty = false;
  const haveUplot = typeof window.uPlot === "function";
  if (!haveUplot) {
    console.warn("run page: uPlot is not loaded; the live chart is off, everything else works");
    if (view.chartStatus) {
      view.chartStatus.textContent = "Chart unavailable (uPlot not loaded).";
    }
  }

  function addProbe(name) {
    if (run.latency.has(name)) {
      return;
    }
    run.probes.push(name);
    run.latency.set(name, new Array(run.x.length).fill(null));
    if (chart) {
      // Series are fixed at creation: a probe nobody announced means a new chart.
      chart.destroy();
      chart = null;
    }
  }

  function addSample(d, x) {
    if (!d.probe) {
      return;
    }
    addProbe(d.probe);
    run.x.push(x);
    run.latency.forEach(function (values, name) {
      values.push(name === d.probe && typeof d.latency_ms === "number" ? d.latency_ms : null);
    });
    run.errors.push(d.ok ? 0 : 1);
    if (run.x.length > CHART_MAX_POINTS) {
      run.x.shift();
      run.latency.forEach(function (values) {
        values.shift();
      });
      run.errors.shift();
    }
    scheduleChart();
  }

  function chartData() {
    const data = [run.x];
    run.probes.forEach(function (name) {
      data.push(run.latency.get(name));
    });
    data.push(run.errors);
    return data;
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

  function makeChart() {
    const series = [{ label: "t (s)" }];
    run.probes.forEach(function (name, i) {
      series.push({
        label: name + " latency (ms)", scale: "ms", stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
      });
    });
    const errors = { label: "errors", scale: "err", stroke: "#dc2626", fill: "rgba(220, 38, 38, 0.15)", width: 1 };
    if (uPlot.paths && uPlot.paths.stepped) {
      errors.paths = uPlot.paths.stepped({ align: 1 });
    }
    series.push(errors);
    const opts = {
      width: Math.max(view.chart.clientWidth, 300),
      height: CHART_HEIGHT,
      scales: { x: { time: false }, err: { range: [0, 1] } },
      series: series,
      axes: [
        { label: "seconds since start" },
        { scale: "ms", label: "latency (ms)" },
        { scale: "err", side: 1, label: "errors", grid: { show: false }, splits: [0, 1] },
      ],
      // Drawn after the axes and before the series, so the lines stay on top.
      hooks: { drawAxes: [drawFaultWindows] },
    };
    return new uPlot(opts, chartData(), view.chart);
  }

  function scheduleChart() {
    if (!haveUplot || chartDirty) {
      return;
    }
    chartDirty = true;
    // At most one redraw per frame, however fast samples arrive.
    window.requestAnimationFrame(function () {
      chartDirty = false;
      try {
        if (!chart) {
          chart = makeChart();
        } else {
          chart.setData(chartData());
        }
      } catch (err) {
        console.error("run page: chart failed", err);
      }
    });
  }

  window.addEventListener("resize", function () {
    if (chart) {
      chart.setSize({ width: Math.max(view.chart.clientWidth, 300), height: CHART_HEIGHT });
    }
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

  if ("WebSocket" in window) {
    connect();
  } else {
    setConnection("polling");
    poll();
  }
})();
