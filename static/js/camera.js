// Camera scanning on the scan page, for a tablet or phone without a USB scanner. The Camera button opens
// the rear camera in the page and reads Code 128 and QR codes (what Inktrail prints) continuously; each
// read goes to scan.js as if it had been typed, so the rules, the colour and sound, the offline queue
// and undo are the same. The same code read again within a few seconds is ignored.
// Decoding: the browser's BarcodeDetector where it reads both formats, else zxing-wasm, vendored under
// static/vendor (its .wasm file is served from here too: nothing comes from the internet).
// getUserMedia needs a secure context: http://localhost, or HTTPS (docs/DEPLOY.md).
(function () {
  "use strict";
  var root = document.getElementById("scan");
  var button = document.getElementById("camera-toggle");
  var panel = document.getElementById("camera");
  if (!root || !button || !panel) { return; }
  var video = panel.querySelector("video");
  var torchBtn = document.getElementById("camera-torch");
  var stopBtn = document.getElementById("camera-stop");
  var note = document.getElementById("camera-note");
  var input = document.getElementById("scan-input");
  var REPEAT_MS = parseInt(root.dataset.cameraRepeatMs || "4000", 10);
  var EVERY_MS = 120;          // a frame looked at about eight times a second
  var MAX_SIDE = 1280;         // frames are scaled down to this before decoding
  var URL_CODE = /\/(?:orders|jobs|o|j)\/([A-Za-z0-9]+)\/?(?:[?#].*)?$/i;  // as domain/codes.py reads a QR's URL

  var stream = null, track = null, detector = null, timer = null, busy = false, torchOn = false;
  var wanted = false;          // the camera should be on (it comes back when the page is shown again)
  var lastSeen = {};           // code -> when it was last read
  var canvas = document.createElement("canvas");
  var ctx = canvas.getContext("2d", {willReadFrequently: true});

  function say(text, bad) {
    note.textContent = text || "";
    note.hidden = !text;
    note.classList.toggle("camera-note-bad", !!bad);
  }

  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    button.disabled = true;
    button.title = "The camera needs HTTPS or localhost";
    say("The camera works only over HTTPS or on localhost (see docs/DEPLOY.md).", true);
    return;
  }

  // -- decoders ------------------------------------------------------------------------------------
  function nativeDetector() {
    if (!("BarcodeDetector" in window)) { return Promise.resolve(null); }
    return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
      if (formats.indexOf("code_128") < 0 || formats.indexOf("qr_code") < 0) { return null; }
      var d = new window.BarcodeDetector({formats: ["code_128", "qr_code"]});
      return {name: "BarcodeDetector", read: function (source) {
        return d.detect(source).then(function (found) { return found.map(function (b) { return b.rawValue; }); });
      }};
    }).catch(function () { return null; });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src; s.async = true;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function zxingDetector() {
    var base = root.dataset.zxingBase;  // ends with "/"
    return loadScript(base + "zxing-reader.iife.js").then(function () {
      var Z = window.ZXingWASM;
      return Z.prepareZXingModule({
        overrides: {locateFile: function (path, prefix) { return path.endsWith(".wasm") ? base + path : prefix + path; }},
        fireImmediately: true
      }).then(function () {
        return {name: "zxing-wasm", read: function () {
          var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
          return Z.readBarcodes(image, {formats: ["Code128", "QRCode"], tryHarder: true, maxNumberOfSymbols: 4})
            .then(function (found) {
              return found.filter(function (b) { return b.isValid; }).map(function (b) { return b.text; });
            });
        }};
      });
    });
  }

  function getDetector() {
    if (detector) { return Promise.resolve(detector); }
    return nativeDetector().then(function (d) { return d || zxingDetector(); }).then(function (d) {
      detector = d;
      root.dataset.cameraDecoder = d.name;
      return d;
    });
  }

  // -- the camera ----------------------------------------------------------------------------------
  function start() {
    wanted = true;
    if (stream) { return; }
    button.disabled = true;
    say("Starting the camera…");
    Promise.all([
      navigator.mediaDevices.getUserMedia({audio: false, video: {
        facingMode: {ideal: "environment"}, width: {ideal: 1280}, height: {ideal: 720}}}),
      getDetector()
    ]).then(function (got) {
      if (!wanted) { got[0].getTracks().forEach(function (t) { t.stop(); }); return; }
      stream = got[0];
      track = stream.getVideoTracks()[0];
      video.srcObject = stream;
      return video.play().then(function () {
        panel.hidden = false;
        button.setAttribute("aria-pressed", "true");
        button.textContent = "Camera on";
        input.setAttribute("inputmode", "none");  // no on-screen keyboard over the picture
        showTorch();
        say("Hold a label's barcode or QR code in the frame.");
        root.dataset.camera = "on";
        tick();
      });
    }).catch(function (err) {
      stop();
      var why = err && err.name === "NotAllowedError" ? "The camera was not allowed: allow it in the browser's site settings."
        : err && err.name === "NotFoundError" ? "This device has no camera."
        : "The camera could not start" + (err && err.message ? ": " + err.message : ".");
      say(why, true);
    }).then(function () { button.disabled = false; });
  }

  function stop(keepWanted) {
    if (!keepWanted) { wanted = false; }
    clearTimeout(timer); timer = null;
    if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); }
    stream = null; track = null; torchOn = false;
    video.srcObject = null;
    panel.hidden = true;
    torchBtn.hidden = true;
    button.setAttribute("aria-pressed", "false");
    button.textContent = "Camera";
    input.removeAttribute("inputmode");
    root.dataset.camera = "off";
    if (!keepWanted) { say(""); }
  }

  function showTorch() {
    var caps = track && track.getCapabilities ? track.getCapabilities() : {};
    torchBtn.hidden = !caps.torch;
    torchBtn.setAttribute("aria-pressed", "false");
  }

  function tick() {
    timer = setTimeout(function () {
      if (!stream) { return; }
      if (busy || video.readyState < 2 || !video.videoWidth) { tick(); return; }
      busy = true;
      var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
      canvas.width = Math.round(video.videoWidth * scale);
      canvas.height = Math.round(video.videoHeight * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      detector.read(canvas).then(found, function () { return null; }).then(function () { busy = false; tick(); });
    }, EVERY_MS);
  }

  function found(codes) {
    var now = Date.now();
    if (codes.length) { root.dataset.cameraReads = String(Number(root.dataset.cameraReads || 0) + 1); }
    codes.forEach(function (code) {
      code = String(code || "").trim();
      if (!code) { return; }
      // A label's barcode and its QR code (a URL ending in the job's code) are the same thing.
      var m = URL_CODE.exec(code);
      var key = (m ? m[1] : code).replace(/\s+/g, "").toUpperCase();
      var seen = lastSeen[key];
      lastSeen[key] = now;  // a label held in view keeps counting as the same read
      if (seen && now - seen < REPEAT_MS) { return; }
      if (navigator.vibrate) { navigator.vibrate(40); }
      root.dispatchEvent(new CustomEvent("inktrail:code", {detail: {code: code, via: "camera"}}));
    });
  }

  button.addEventListener("click", function () { if (stream) { stop(); } else { start(); } });
  stopBtn.addEventListener("click", function () { stop(); });
  torchBtn.addEventListener("click", function () {
    if (!track) { return; }
    var on = !torchOn;
    track.applyConstraints({advanced: [{torch: on}]}).then(function () {
      torchOn = on;
      torchBtn.setAttribute("aria-pressed", on ? "true" : "false");
      torchBtn.textContent = on ? "Light off" : "Light";
    }).catch(function () { say("The light could not be switched.", true); });
  });
  // The camera stops when the page is hidden (another app, the screen off) and comes back when it is shown.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) { if (stream) { stop(true); } } else if (wanted) { start(); }
  });
  window.addEventListener("pagehide", function () { stop(); });
})();
