// The scan page. A keyboard-wedge scanner types a code and Enter into the field, which always keeps
// focus. Every scan gets an ID made here and goes into a queue kept in localStorage; the queue is sent
// in order, one at a time. If the network is down, scans wait (shown as pending) and are sent when it
// returns; the server answers a resent ID with its first answer, so nothing moves twice.
(function () {
  "use strict";
  var root = document.getElementById("scan");
  if (!root) { return; }
  var station = root.dataset.station;
  var postUrl = root.dataset.postUrl;
  var undoUrl = root.dataset.undoUrl;
  var undoSeconds = parseInt(root.dataset.undoSeconds || "60", 10);
  var queueKey = "inktrail.scanQueue." + station;
  var operatorKey = "inktrail.operator." + station;
  var input = document.getElementById("scan-input");
  var form = document.getElementById("scan-form");
  var result = document.getElementById("result");
  var recent = document.getElementById("recent");
  var undoBtn = document.getElementById("undo");
  var netPill = document.getElementById("net-pill");
  var pendingPill = document.getElementById("pending-pill");
  var operatorEl = document.getElementById("operator");
  var qcMode = document.getElementById("qc-mode");
  var qcReason = document.getElementById("qc-reason");
  var qcHint = document.getElementById("qc-hint");
  var sending = false;
  var retryTimer = null;
  var lastUndoable = null;
  var undoTimer = null;
  var failMode = false;

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function newId() {
    // crypto.randomUUID needs a secure context; tablets on the shop's LAN often use plain http.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function loadQueue() {
    try { return JSON.parse(localStorage.getItem(queueKey) || "[]"); } catch (e) { return []; }
  }
  function saveQueue(q) { localStorage.setItem(queueKey, JSON.stringify(q)); showPending(q); }

  function operator() { return localStorage.getItem(operatorKey) || root.dataset.user; }
  function setOperator(name) {
    localStorage.setItem(operatorKey, name);
    operatorEl.textContent = name;
  }

  function showPending(q) {
    q = q || loadQueue();
    pendingPill.hidden = q.length === 0;
    pendingPill.textContent = q.length + " waiting to send";
    recent.querySelectorAll(".scan-row.pending").forEach(function (li) {
      var stillQueued = q.some(function (s) { return s.scan_id === li.dataset.scanId; });
      if (!stillQueued) { li.remove(); }
    });
    q.forEach(function (s) {
      if (!recent.querySelector('[data-scan-id="' + s.scan_id + '"]')) {
        recent.insertBefore(row({scan_id: s.scan_id, ok: null, message: "waiting to send", code: s.code,
                                 at: s.scanned_at, operator: s.operator}, true), recent.firstChild);
      }
    });
  }

  function setOnline(online) {
    netPill.textContent = online ? "Online" : "Offline: scans wait here";
    netPill.className = "pill " + (online ? "pill-online" : "pill-offline");
  }

  // Sounds made on the spot (no files to load): a rising chirp for a move, a low buzz for a refusal.
  var audio = null;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var notes = ok ? [[880, 0], [1320, 0.09]] : [[180, 0], [140, 0.16]];
      notes.forEach(function (n) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = ok ? "sine" : "square";
        osc.frequency.value = n[0];
        gain.gain.value = 0.15;
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(audio.currentTime + n[1]);
        osc.stop(audio.currentTime + n[1] + (ok ? 0.08 : 0.15));
      });
    } catch (e) { /* no sound device: the colour still says it */ }
  }

  function localTime(iso) {
    var d = iso ? new Date(iso) : new Date();
    return d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false});
  }

  function row(s, pending) {
    var li = document.createElement("li");
    li.className = "scan-row " + (pending ? "pending" : (s.ok ? "ok" : "bad"));
    li.dataset.scanId = s.scan_id;
    var t = document.createElement("time"); t.textContent = localTime(s.at);
    var c = document.createElement("span"); c.className = "code"; c.textContent = s.job_id || s.order_id || s.code || "";
    var m = document.createElement("span"); m.className = "msg"; m.textContent = s.message || s.error || "";
    var w = document.createElement("span"); w.className = "who muted"; w.textContent = s.operator || "";
    li.append(t, c, m, w);
    return li;
  }

  function addRecent(s) {
    var old = recent.querySelector('[data-scan-id="' + s.scan_id + '"]');
    var li = row(s, false);
    if (old) { old.replaceWith(li); } else { recent.insertBefore(li, recent.firstChild); }
    while (recent.children.length > 20) { recent.removeChild(recent.lastChild); }
  }

  function show(kind, title, detail) {
    result.className = "result result-" + kind;
    result.innerHTML = "";
    var p = document.createElement("p"); p.className = "result-title"; p.textContent = title;
    result.appendChild(p);
    if (detail) {
      var d = document.createElement("p"); d.className = "result-detail"; d.textContent = detail;
      result.appendChild(d);
    }
  }

  function handleAnswer(s) {
    if (s.kind === "badge" && s.ok && s.operator) { setOperator(s.operator); }
    var detail = [s.customer, s.operator ? "by " + s.operator : null].filter(Boolean).join(" · ");
    if (s.ok) {
      show(s.outcome === "duplicate" ? "info" : "ok", s.message, detail);
    } else {
      show("bad", s.message || s.error, detail);
    }
    beep(!!s.ok);
    addRecent(s);
    if (s.ok && s.outcome === "moved" && s.undoable !== false) {
      lastUndoable = s;
      undoBtn.hidden = false;
      undoBtn.textContent = "Undo " + (s.job_id || s.order_id || "last scan");
      clearTimeout(undoTimer);
      undoTimer = setTimeout(function () { undoBtn.hidden = true; lastUndoable = null; }, undoSeconds * 1000);
    }
  }

  function flush() {
    if (sending) { return; }
    var q = loadQueue();
    if (!q.length) { return; }
    sending = true;
    var s = q[0];
    fetch(postUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json"},
      body: JSON.stringify(s)
    }).then(function (resp) {
      if (resp.status === 401 || resp.status === 403 || resp.redirected) {
        throw {auth: true};
      }
      // 503: the database is busy; nothing was saved. The scan stays queued and is sent again.
      if (resp.status >= 500) { throw {busy: true}; }
      return resp.json().then(function (body) { return {status: resp.status, body: body}; });
    }).then(function (r) {
      setOnline(true);
      var rest = loadQueue().filter(function (x) { return x.scan_id !== s.scan_id; });
      saveQueue(rest);
      if (!r.body.scan_id) { r.body.scan_id = s.scan_id; r.body.code = s.code; }
      handleAnswer(r.body);
      sending = false;
      flush();
    }).catch(function (err) {
      sending = false;
      if (err && err.auth) {
        show("bad", "Log in again to send scans", "Scans are kept on this tablet until then.");
        return;
      }
      setOnline(false);
      clearTimeout(retryTimer);
      retryTimer = setTimeout(flush, 2000);
    });
  }

  form.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var code = input.value.trim();
    input.value = "";
    submitCode(code);
  });
  // The camera (camera.js) hands each code it reads here, to go the same way as a typed one.
  root.addEventListener("inktrail:code", function (evt) { submitCode(String(evt.detail.code || "").trim()); });

  function submitCode(code) {
    if (!code) { return; }
    var scan = {scan_id: newId(), station: station, code: code, operator: operator(),
                scanned_at: new Date().toISOString(), action: failMode ? "qc_fail" : "move"};
    if (failMode) { scan.reason = qcReason.value; setFailMode(false); }
    var q = loadQueue();
    q.push(scan);
    saveQueue(q);
    flush();
  }

  undoBtn.addEventListener("click", function () {
    if (!lastUndoable) { return; }
    var target = lastUndoable;
    fetch(undoUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify({scan_id: target.scan_id})
    }).then(function (resp) { return resp.json(); }).then(function (body) {
      if (body.ok === false) { show("bad", body.error); beep(false); return; }
      show("info", body.message);
      var li = recent.querySelector('[data-scan-id="' + target.scan_id + '"]');
      if (li) { li.classList.add("undone"); }
      undoBtn.hidden = true;
      lastUndoable = null;
    }).catch(function () { show("bad", "Undo needs the network; try again"); });
    input.focus();
  });

  function setFailMode(on) {
    failMode = on;
    if (!qcMode) { return; }
    qcMode.querySelector(".qc-pass").classList.toggle("is-on", !on);
    qcMode.querySelector(".qc-fail").classList.toggle("is-on", on);
    qcReason.hidden = !on;
    qcHint.hidden = !on;
  }
  if (qcMode) {
    qcMode.addEventListener("click", function (evt) {
      var b = evt.target.closest("[data-qc]");
      if (!b) { return; }
      setFailMode(b.dataset.qc === "fail");
      input.focus();
    });
    qcReason.addEventListener("change", function () { input.focus(); });
  }

  // A station that buys labels: the package preset its next labels are bought for, kept by the server.
  var packagePick = document.getElementById("package-pick");
  if (packagePick) {
    packagePick.addEventListener("click", function (evt) {
      var b = evt.target.closest("[data-package]");
      if (!b) { return; }
      var name = b.dataset.package;
      fetch(packagePick.dataset.url, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify({package: name})
      }).then(function (resp) { return resp.json(); }).then(function (body) {
        if (body.ok === false) { show("bad", body.error); beep(false); return; }
        packagePick.querySelectorAll("[data-package]").forEach(function (x) {
          var on = x.dataset.package === body.package;
          x.classList.toggle("is-on", on);
          x.setAttribute("aria-pressed", on ? "true" : "false");
        });
        show("info", "Package: " + body.package, "The next labels bought here are for this package.");
      }).catch(function () { show("bad", "Picking a package needs the network; try again"); });
      input.focus();
    });
  }

  // The field keeps focus, so a scanner's keystrokes always land in it (except while picking a reason).
  document.addEventListener("click", function (evt) {
    if (evt.target.closest("select, a, input")) { return; }
    input.focus();
  });
  input.addEventListener("blur", function () {
    setTimeout(function () {
      var active = document.activeElement;
      if (!active || active === document.body || (active.tagName === "BUTTON")) { input.focus(); }
    }, 150);
  });
  window.addEventListener("online", function () { setOnline(true); flush(); });
  window.addEventListener("offline", function () { setOnline(false); });

  var storedOperator = localStorage.getItem(operatorKey);
  if (storedOperator) { operatorEl.textContent = storedOperator; }
  showPending();
  flush();
  input.focus();
})();
