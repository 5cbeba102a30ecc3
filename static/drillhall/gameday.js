/*
 * The live page of a game-day run: its socket only says "changed", and the page refetches
 * the fragment of the run's state (drills, verdicts, observations, action items) and puts it
 * in place. It refetches on every (re)connect as well, so whatever changed while the socket
 * was down is shown: the rows on the server are the truth, not the messages.
 *
 * Observation forms are outside the fragment (what someone is typing is never replaced); a
 * drill's form is enabled once the fragment shows that the drill started.
 */
(function () {
  "use strict";

  const root = document.getElementById("gameday-run");
  if (!root) {
    return;
  }
  const live = document.getElementById("gameday-live");
  const connection = document.getElementById("connection");
  const RECONNECT_MIN_MS = 500;
  const RECONNECT_MAX_MS = 10000;

  let fetching = false;
  let fetchAgain = false;
  let failures = 0;

  function setConnection(text) {
    if (connection) {
      connection.textContent = text;
    }
  }

  function stateNode() {
    return document.getElementById("gameday-run-state");
  }

  function applyState() {
    const state = stateNode();
    if (!state) {
      return;
    }
    root.dataset.state = state.dataset.state;
    state.querySelectorAll("tr[data-drill]").forEach(function (row) {
      const form = document.querySelector('form.observe-form[data-drill="' + row.dataset.drill + '"]');
      if (!form || row.dataset.state === "not-started") {
        return;
      }
      const fields = form.querySelector("fieldset");
      if (fields && fields.disabled) {
        fields.disabled = false;
        const note = form.querySelector(".not-started");
        if (note) {
          note.remove();
        }
      }
    });
    if (state.dataset.finished === "true") {
      const stop = document.getElementById("stop-form");
      if (stop) {
        stop.hidden = true;
      }
    }
  }

  // One fetch at a time; a change announced meanwhile fetches once more after it.
  function refresh() {
    if (fetching) {
      fetchAgain = true;
      return;
    }
    fetching = true;
    fetch(root.dataset.stateUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html; // the server's own template, escaped there
        applyState();
      })
      .catch(function (err) {
        console.warn("game day page: refresh failed", err);
      })
      .finally(function () {
        fetching = false;
        if (fetchAgain) {
          fetchAgain = false;
          refresh();
        }
      });
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(scheme + "//" + window.location.host + root.dataset.wsPath);
    socket.onopen = function () {
      failures = 0;
      setConnection("live");
      refresh(); // whatever changed before the socket was there
    };
    socket.onmessage = function () {
      refresh();
    };
    socket.onclose = function () {
      failures += 1;
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * Math.pow(2, failures - 1));
      const jittered = delay * (0.8 + Math.random() * 0.4);
      setConnection("disconnected, retrying in " + Math.ceil(jittered / 1000) + " s");
      refresh();
      window.setTimeout(connect, jittered);
    };
  }

  applyState();
  if ("WebSocket" in window) {
    connect();
  } else {
    setConnection("reload the page to see changes");
  }
})();
