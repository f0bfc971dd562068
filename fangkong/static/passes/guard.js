// The guard's scanner (fangkong/passes/guard_views.py). A code comes from the camera
// (BarcodeDetector where the browser has it, else jsQR on the video's frames), from a
// photo (the file input, decoded the same way), or from a resident picked by the last 4
// digits of their phone or ID number. "check" says who it is; "record" records the
// passage with the temperature.
//
// A flaky connection loses nothing: a record that cannot be sent (no network, no answer
// within 4 s) is kept in this phone's storage, one queue per gate and user, and sent in
// order when the network comes back (the `online` event, every 15 s, and after any call
// that went through). Every scan has its own client_id, so a scan sent twice (an answer
// lost on the way back) is recorded once by the server. What the server refused or could
// not record among the queued scans is listed until the guard has seen it.
(function () {
  "use strict";
  var setup = JSON.parse(document.getElementById("guard-setup").textContent);
  var T = setup.text;
  var PREFIX = "fangkong.gate." + setup.gate + "." + setup.user + ".";
  var QUEUE_KEY = PREFIX + "queue";
  var LATE_KEY = PREFIX + "late";
  var MODE_KEY = "fangkong.gate." + setup.gate + ".direction";
  // How long to wait for an answer: a record the guard is waiting on goes to the queue
  // after 4 s; a check or a search is worth a little longer (without it the guard has no
  // colour); the queue is sent in the background, where a slow server must not make it
  // give up on every try.
  var RECORD_MS = 4000;
  var CHECK_MS = 8000;
  var QUEUE_MS = 20000;
  var RETRY_MS = 15000;
  var store = window.localStorage;

  function $(id) { return document.getElementById(id); }
  function show(el, on) { el.hidden = !on; }
  function say(el, text) { el.textContent = text || ""; }
  function count(template, n) { return template.replace("%(n)s", String(n)); }
  function nowIso() { return new Date().toISOString(); }

  function newId() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (e) { /* not a secure context */ }
    }
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) { c.getRandomValues(bytes); } else {
      for (var i = 0; i < 16; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    return Array.prototype.map.call(bytes, function (b) {
      return (b + 256).toString(16).slice(1);
    }).join("");
  }

  function csrfToken() {
    // The cookie's token is the current one even after a new login in another tab.
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : setup.csrf;
  }

  function readJson(key, fallback) {
    try { var v = JSON.parse(store.getItem(key)); return v === null ? fallback : v; }
    catch (e) { return fallback; }
  }
  function writeJson(key, value) {
    try { store.setItem(key, JSON.stringify(value)); } catch (e) { /* storage full */ }
  }

  // One POST. Resolves to {kind, data}: "ok" (2xx JSON), "answer" (4xx JSON: the server's
  // last word on it), "lost" (no network, no answer in time, a server error: try again),
  // "login" (logged out) or "broken" (anything else: reload the page).
  function post(url, body, timeoutMs) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (controller) { controller.abort(); } }, timeoutMs);
    return fetch(url, {
      method: "POST", credentials: "same-origin", redirect: "manual", cache: "no-store",
      signal: controller ? controller.signal : undefined,
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": csrfToken()},
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.type === "opaqueredirect" || response.status === 0) {
        return {kind: "login", data: {}};
      }
      var isJson = (response.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      if (response.status >= 500) { return {kind: "lost", data: {}}; }
      if (!isJson) { return {kind: "broken", data: {}}; }
      return response.json().then(function (data) {
        return {kind: response.ok ? "ok" : "answer", status: response.status, data: data};
      });
    }).catch(function () {
      return {kind: "lost", data: {}};
    }).then(function (result) {
      clearTimeout(timer);
      return result;
    });
  }

  // ---- In or out: stays set on this phone. -------------------------------------------
  var direction = store.getItem(MODE_KEY) === "out" ? "out" : "in";
  function setDirection(value) {
    direction = value;
    try { store.setItem(MODE_KEY, value); } catch (e) { /* ignore */ }
    [$("g-in"), $("g-out")].forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.direction === value));
    });
    $("g-record").textContent = value === "out" ? T.record_out : T.record_in;
  }
  [$("g-in"), $("g-out")].forEach(function (b) {
    b.addEventListener("click", function () {
      if (b.dataset.direction === direction) { return; }
      setDirection(b.dataset.direction);
      // A scan waiting for its temperature is checked again for the new direction (red
      // may come in, not go out).
      if (scan && !scan.done && !scan.offline) { runCheck(); }
    });
  });
  setDirection(direction);

  // ---- The queue of scans waiting for the network. -----------------------------------
  var flushing = false;
  var problem = "";  // "", "login" or "reload": why the queue is stuck

  function queue() { return readJson(QUEUE_KEY, []); }
  function enqueue(item) {
    var q = queue();
    if (!q.some(function (x) { return x.client_id === item.client_id; })) { q.push(item); }
    writeJson(QUEUE_KEY, q);
    renderBanner();
  }
  function dequeue(clientId) {
    writeJson(QUEUE_KEY, queue().filter(function (x) { return x.client_id !== clientId; }));
  }

  function addLate(kind, data) {
    var late = readJson(LATE_KEY, []);
    var who = (data.people || []).map(function (p) { return p.name + " " + p.room; }).join(", ");
    late.push({kind: kind, at: data.at || "", who: who,
               reason: data.reason || data.detail || ""});
    writeJson(LATE_KEY, late.slice(-50));
    renderLate();
  }

  function flush() {
    if (flushing) { return; }
    var q = queue();
    if (!q.length) { problem = ""; renderBanner(); return; }
    flushing = true;
    renderBanner();
    var item = q[0];
    var body = Object.assign({}, item, {sent_at: nowIso()});
    post(setup.urls.record, body, QUEUE_MS).then(function (answer) {
      flushing = false;
      if (answer.kind === "ok" || answer.kind === "answer") {
        dequeue(item.client_id);
        problem = "";
        if (answer.kind === "answer") {
          addLate("lost", answer.data);
        } else if (answer.data.result === "refused") {
          addLate("refused", answer.data);
        }
        if (scan && scan.client_id === item.client_id && answer.kind === "ok") {
          showAnswer(answer.data);  // the scan still on the screen: its real answer
        }
        flush();
        return;
      }
      problem = answer.kind === "login" ? "login" : (answer.kind === "broken" ? "reload" : "");
      renderBanner();
    });
  }

  function renderBanner() {
    var banner = $("g-net");
    var n = queue().length;
    var offline = navigator.onLine === false;
    banner.classList.toggle("g-offline", offline);
    if (n) {
      var template = problem === "login" ? T.queue_login
        : (problem === "reload" ? T.queue_reload : T.queue_count);
      say(banner, (flushing && !problem ? T.sending + " " : "") + count(template, n));
    } else if (offline) {
      say(banner, T.offline_now);
    } else {
      say(banner, "");
    }
    show(banner, Boolean(banner.textContent));
  }

  function renderLate() {
    var late = readJson(LATE_KEY, []);
    var list = $("g-late-list");
    list.textContent = "";
    var refused = late.filter(function (x) { return x.kind === "refused"; });
    var lost = late.filter(function (x) { return x.kind === "lost"; });
    [[refused, T.offline_refused], [lost, T.offline_lost]].forEach(function (pair) {
      if (!pair[0].length) { return; }
      var head = document.createElement("li");
      var h = document.createElement("h2");
      h.textContent = count(pair[1], pair[0].length);
      head.appendChild(h);
      list.appendChild(head);
      pair[0].forEach(function (x) {
        var li = document.createElement("li");
        li.textContent = [x.at, x.who, x.reason].filter(Boolean).join(" · ");
        list.appendChild(li);
      });
    });
    show($("g-late"), late.length > 0);
  }
  $("g-late-seen").addEventListener("click", function () {
    store.removeItem(LATE_KEY);
    renderLate();
  });

  window.addEventListener("online", function () { renderBanner(); flush(); });
  window.addEventListener("offline", renderBanner);
  setInterval(flush, RETRY_MS);

  // ---- One scan: check, temperature, record. -----------------------------------------
  var scan = null;  // {code | resident_id, client_id, at, needsTemperature, done, offline}

  function subjectOf(s) {
    return s.resident_id ? {resident_id: s.resident_id, ref: s.ref} : {code: s.code};
  }

  function begin(subject) {
    scan = Object.assign({client_id: newId(), at: nowIso(), done: false, offline: false},
                         subject);
    pauseCamera();
    show($("g-scan"), false);
    show($("g-result"), true);
    resetTemperature();
    runCheck();
    window.scrollTo(0, 0);
  }

  function verdict(colour, word, reason) {
    $("g-verdict").dataset.colour = colour;
    say($("g-verdict-word"), word);
    say($("g-reason"), reason);
  }

  function people(list) {
    var ul = $("g-people");
    ul.textContent = "";
    (list || []).forEach(function (p) {
      var li = document.createElement("li");
      li.textContent = p.name;
      var room = document.createElement("span");
      room.className = "g-room";
      room.textContent = p.room;
      li.appendChild(room);
      ul.appendChild(li);
    });
  }

  function protocol(lines) {
    var ol = $("g-protocol");
    ol.textContent = "";
    (lines || []).forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      ol.appendChild(li);
    });
    show($("g-protocol-box"), Boolean(lines && lines.length));
  }

  function asking(on, needsTemperature) {
    show($("g-temp"), on && needsTemperature);
    show($("g-record"), on);
    say($("g-next"), on ? T.cancel : T.next);
    updateRecordButton();
  }

  function runCheck() {
    var current = scan;
    verdict("busy", T.checking, "");
    people([]);
    protocol([]);
    asking(false, false);
    var body = Object.assign(subjectOf(current), {
      direction: direction, client_id: current.client_id, at: current.at, sent_at: nowIso()});
    post(setup.urls.check, body, CHECK_MS).then(function (answer) {
      if (scan !== current) { return; }
      if (answer.kind === "ok") {
        showAnswer(answer.data);
        flush();
      } else if (answer.kind === "answer") {
        current.done = true;
        verdict("grey", T.not_recorded, answer.data.detail || T.error);
        asking(false, false);
      } else if (answer.kind === "lost") {
        // Cannot be checked now: take the temperature anyway; the record is queued and
        // checked when the network is back.
        current.offline = true;
        current.needsTemperature = true;
        verdict("offline", T.unchecked, T.offline_check);
        asking(true, true);
      } else {
        current.done = true;
        verdict("grey", T.not_recorded, answer.kind === "login" ? T.login : T.error);
        asking(false, false);
      }
    });
  }

  function showAnswer(data) {
    people(data.people);
    protocol(data.protocol);
    if (data.recorded) {
      scan.done = true;
      var passed = data.result === "passed";
      var colour = passed ? data.colour : (data.colour === "grey" ? "grey" : "red");
      // A scan sent again: the server's line says it was recorded before.
      verdict(colour, passed ? T.passed : T.refused, data.reason);
      asking(false, false);
      if (navigator.vibrate) { navigator.vibrate(passed ? 80 : [200, 100, 200]); }
      return;
    }
    scan.needsTemperature = Boolean(data.needs_temperature);
    verdict(data.colour, T["colour_" + data.colour] || "", data.reason);
    asking(true, scan.needsTemperature);
  }

  function record() {
    var current = scan;
    if (!current || current.done) { return; }
    var tenths = temperature.value;
    if (current.needsTemperature) {
      if (tenths === null) { say($("g-temp-msg"), T.temp_first); return; }
      if (tenths < 340 || tenths > 430) { say($("g-temp-msg"), T.temp_range); return; }
    }
    var item = Object.assign(subjectOf(current), {
      direction: direction, client_id: current.client_id, at: current.at,
      temperature: tenths === null ? "" : (tenths / 10).toFixed(1)});
    $("g-record").disabled = true;
    say($("g-record"), T.sending);
    var body = Object.assign({}, item, {sent_at: nowIso()});
    post(setup.urls.record, body, RECORD_MS).then(function (answer) {
      var answered = answer.kind === "ok" || answer.kind === "answer";
      if (!answered) {
        // No answer: kept on the phone, sent when the network is back. Nothing is lost
        // when logged out either: it goes after the next login.
        enqueue(item);
        if (answer.kind !== "lost") { problem = answer.kind === "login" ? "login" : "reload"; }
        renderBanner();
      }
      if (scan !== current) {
        // The guard went on to the next person meanwhile: a refusal is listed.
        if (answer.kind === "ok" && answer.data.result === "refused") {
          addLate("refused", answer.data);
        }
        return;
      }
      setDirection(direction);  // the button's label back
      if (answer.kind === "ok") {
        showAnswer(answer.data);
        flush();
        return;
      }
      if (answer.kind === "answer") {
        var errors = answer.data.errors || {};
        if (errors.temperature) {
          resetTemperature();
          say($("g-temp-msg"), errors.temperature.join(" "));
          updateRecordButton();
          return;
        }
        current.done = true;
        verdict("grey", T.not_recorded, answer.data.detail || T.error);
        asking(false, false);
        return;
      }
      current.done = true;
      verdict("offline", T.saved, T.queued);
      asking(false, false);
    });
  }
  $("g-record").addEventListener("click", record);

  $("g-next").addEventListener("click", function () {
    scan = null;
    show($("g-result"), false);
    show($("g-scan"), true);
    say($("g-scan-msg"), "");
    resumeCamera();
    window.scrollTo(0, 0);
  });

  // ---- The temperature: a keypad ("3 6 5" is 36.5) and − / + by 0.1. ------------------
  var temperature = {digits: "", value: null};  // value in tenths of a degree
  var feverFrom = Math.round(parseFloat(setup.fever_from) * 10);

  function resetTemperature() {
    temperature.digits = "";
    temperature.value = null;
    renderTemperature();
  }

  function renderTemperature() {
    var text;
    if (temperature.digits && temperature.digits.length < 3) {
      text = (temperature.digits + "___").slice(0, 2) + "." +
        (temperature.digits + "___").charAt(2);
    } else if (temperature.value !== null) {
      text = (temperature.value / 10).toFixed(1);
    } else {
      text = "--.-";
    }
    say($("g-temp-value"), text);
    $("g-temp-value").classList.toggle("g-hot", temperature.value !== null &&
                                        temperature.value >= feverFrom);
    var v = temperature.value;
    say($("g-temp-msg"), v !== null && (v < 340 || v > 430) ? T.temp_range : "");
    updateRecordButton();
  }

  function updateRecordButton() {
    var button = $("g-record");
    if (!scan || scan.done) { button.disabled = true; return; }
    var v = temperature.value;
    button.disabled = Boolean(scan.needsTemperature) &&
      (v === null || v < 340 || v > 430);
  }

  document.querySelectorAll(".g-keypad .g-key").forEach(function (key) {
    key.addEventListener("click", function () {
      if (key.dataset.digit !== undefined) {
        if (temperature.digits.length >= 3) { temperature.digits = ""; }
        temperature.digits += key.dataset.digit;
        temperature.value = temperature.digits.length === 3
          ? parseInt(temperature.digits, 10) : null;
      } else if (key.dataset.back) {
        temperature.digits = temperature.digits.slice(0, -1);
        temperature.value = null;
      } else {
        temperature.digits = "";
        temperature.value = null;
      }
      renderTemperature();
    });
  });
  document.querySelectorAll(".g-pm").forEach(function (button) {
    button.addEventListener("click", function () {
      var step = parseInt(button.dataset.step, 10);
      temperature.value = temperature.value === null ? 365 : temperature.value + step;
      temperature.digits = "";
      renderTemperature();
    });
  });

  // ---- Codes from the camera and from photos. ----------------------------------------
  var video = $("g-video");
  var canvas = document.createElement("canvas");
  var context2d = canvas.getContext("2d", {willReadFrequently: true});
  var stream = null;
  var scanning = false;
  var detector = null;
  var lastFrame = 0;
  // The camera reads the same code again only once it has been out of sight this long:
  // the person just let through is often still holding it up.
  var SAME_CODE_MS = 2500;
  var lastCode = null;
  var lastSeenAt = 0;

  function makeDetector() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    var get = window.BarcodeDetector.getSupportedFormats;
    return (get ? get.call(window.BarcodeDetector) : Promise.resolve(["qr_code"]))
      .then(function (formats) {
        return formats.indexOf("qr_code") === -1 ? null
          : new window.BarcodeDetector({formats: ["qr_code"]});
      }).catch(function () { return null; });
  }
  var detectorReady = makeDetector().then(function (d) { detector = d; return d; });

  function jsqrOn(source, width, height, maxSide, inversion) {
    if (!window.jsQR || !width || !height) { return null; }
    var scale = Math.min(1, maxSide / Math.max(width, height));
    var w = Math.max(1, Math.round(width * scale));
    var h = Math.max(1, Math.round(height * scale));
    canvas.width = w;
    canvas.height = h;
    context2d.drawImage(source, 0, 0, w, h);
    var found = window.jsQR(context2d.getImageData(0, 0, w, h).data, w, h,
                            {inversionAttempts: inversion});
    return found && found.data ? found.data : null;
  }

  function detect(source) {
    if (!detector) { return Promise.resolve(null); }
    return detector.detect(source).then(function (codes) {
      return codes.length ? codes[0].rawValue : null;
    }).catch(function () { return null; });
  }

  function found(code) {
    if (navigator.vibrate) { navigator.vibrate(60); }
    begin({code: code});
  }

  function frame() {
    if (!scanning) { return; }
    var now = Date.now();
    if (video.readyState < 2 || now - lastFrame < 200) {
      window.requestAnimationFrame(frame);
      return;
    }
    lastFrame = now;
    var reading = detector ? detect(video) : Promise.resolve(
      jsqrOn(video, video.videoWidth, video.videoHeight, 640, "dontInvert"));
    reading.then(function (code) {
      if (!scanning) { return; }
      var at = Date.now();
      if (code && code === lastCode && at - lastSeenAt < SAME_CODE_MS) {
        // Still the code just scanned, held up while the next person is awaited.
        lastSeenAt = at;
        code = null;
      }
      if (code) {
        lastCode = code;
        lastSeenAt = at;
        found(code);
      } else {
        window.requestAnimationFrame(frame);
      }
    });
  }

  function startCamera() {
    var media = navigator.mediaDevices;
    if (!media || !media.getUserMedia) { say($("g-scan-msg"), T.camera_off); return; }
    media.getUserMedia({audio: false, video: {facingMode: {ideal: "environment"},
                                              width: {ideal: 1280}, height: {ideal: 720}}})
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        show(video, true);
        show($("g-camera"), false);
        var track = s.getVideoTracks()[0];
        var caps = track && track.getCapabilities ? track.getCapabilities() : {};
        show($("g-torch"), Boolean(caps.torch));
        return video.play().then(function () { return detectorReady; });
      })
      .then(function () { resumeCamera(); })
      .catch(function () { say($("g-scan-msg"), T.camera_off); stopCamera(); });
  }

  function stopCamera() {
    scanning = false;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null;
    show(video, false);
    show($("g-torch"), false);
    show($("g-camera"), true);
  }
  function pauseCamera() { scanning = false; }
  function resumeCamera() {
    if (!stream || scanning) { return; }
    scanning = true;
    lastSeenAt = Date.now();
    window.requestAnimationFrame(frame);
  }

  $("g-camera").addEventListener("click", startCamera);
  var torchOn = false;
  $("g-torch").addEventListener("click", function () {
    var track = stream && stream.getVideoTracks()[0];
    if (!track) { return; }
    torchOn = !torchOn;
    track.applyConstraints({advanced: [{torch: torchOn}]}).catch(function () {
      show($("g-torch"), false);
    });
  });
  // The camera is let go while the page is hidden (battery), and taken up again after.
  var hadCamera = false;
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      hadCamera = Boolean(stream);
      stopCamera();
    } else if (hadCamera) {
      hadCamera = false;
      startCamera();
    }
  });
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    // Plain http on a LAN address: no camera stream, but the photo still works.
    show($("g-camera"), false);
  }

  function loadImage(file) {
    if (window.createImageBitmap) {
      return window.createImageBitmap(file).then(function (bitmap) {
        return {source: bitmap, width: bitmap.width, height: bitmap.height};
      });
    }
    return new Promise(function (resolve, reject) {
      var img = new Image();
      var url = URL.createObjectURL(file);
      img.onload = function () {
        URL.revokeObjectURL(url);
        resolve({source: img, width: img.naturalWidth, height: img.naturalHeight});
      };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("image")); };
      img.src = url;
    });
  }

  $("g-photo").addEventListener("change", function () {
    var input = this;
    var file = input.files && input.files[0];
    if (!file) { return; }
    say($("g-scan-msg"), T.reading);
    loadImage(file).then(function (image) {
      return detectorReady.then(function () { return detect(image.source); })
        .then(function (code) {
          // A phone's photo is large: try it small first (fast), then larger.
          return code || jsqrOn(image.source, image.width, image.height, 800, "attemptBoth") ||
            jsqrOn(image.source, image.width, image.height, 1600, "attemptBoth");
        });
    }).then(function (code) {
      input.value = "";
      if (code) { say($("g-scan-msg"), ""); found(code); } else { say($("g-scan-msg"), T.no_code); }
    }).catch(function () {
      input.value = "";
      say($("g-scan-msg"), T.no_code);
    });
  });

  // ---- The last 4 digits of a phone or ID number. ------------------------------------
  var digitsInput = $("g-digits");
  $("g-x").addEventListener("click", function () {
    if (digitsInput.value.length === 3) { digitsInput.value += "X"; }
    digitsInput.focus();
  });
  $("g-find").addEventListener("submit", function (event) {
    event.preventDefault();
    var digits = digitsInput.value.trim().toUpperCase();
    var list = $("g-candidates");
    list.textContent = "";
    if (!/^[0-9]{3}[0-9X]$/.test(digits)) { say($("g-find-msg"), T.find_short); return; }
    say($("g-find-msg"), T.checking);
    post(setup.urls.find, {digits: digits}, CHECK_MS).then(function (answer) {
      if (answer.kind === "lost") { say($("g-find-msg"), T.find_offline); return; }
      if (answer.kind === "login") { say($("g-find-msg"), T.login); return; }
      if (answer.kind !== "ok") { say($("g-find-msg"), answer.data.detail || T.error); return; }
      var matches = answer.data.people || [];
      say($("g-find-msg"), !matches.length ? T.find_none
        : (answer.data.more ? T.find_more : ""));
      matches.forEach(function (p) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = p.name;
        var room = document.createElement("span");
        room.className = "g-room";
        room.textContent = p.room;
        button.appendChild(room);
        button.addEventListener("click", function () {
          list.textContent = "";
          digitsInput.value = "";
          say($("g-find-msg"), "");
          begin({resident_id: p.id, ref: p.ref});
        });
        li.appendChild(button);
        list.appendChild(li);
      });
      flush();
    });
  });

  renderBanner();
  renderLate();
  flush();
})();
