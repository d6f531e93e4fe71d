// Camera scanning where the browser reads QR codes itself (BarcodeDetector). It fills in the
// code and posts the same form a person would, with method "qr". Without BarcodeDetector, a
// camera or JavaScript no camera button appears: the code is typed or the person searched.
(function () {
  "use strict";
  var form = document.querySelector("form.checkin-code-form");
  if (!form || !("BarcodeDetector" in window) || !navigator.mediaDevices ||
      !navigator.mediaDevices.getUserMedia) { return; }
  var actions = form.querySelector(".js-scan-actions");
  var video = form.querySelector(".js-scan-video");
  var status = form.querySelector(".js-scan-status");
  var code = form.querySelector("input[name=code]");
  var method = form.querySelector("input[name=method]");
  // After a scan the page reloads; keep scanning for the next person until "Stop" is pressed.
  var KEY = "tsudoi.checkin.scanning";
  var stream = null;
  var timer = null;
  var detector = null;
  var start = null;
  var stop = null;

  function remember(on) {
    try {
      if (on) { sessionStorage.setItem(KEY, "1"); } else { sessionStorage.removeItem(KEY); }
    } catch (e) { /* private mode: the camera just needs a tap after each scan */ }
  }

  function remembered() {
    try { return sessionStorage.getItem(KEY) === "1"; } catch (e) { return false; }
  }

  // Created here, not in the page: without a detector they must not exist at all.
  function button(label) {
    var element = document.createElement("button");
    element.type = "button";
    element.className = "button button-secondary";
    element.textContent = label;
    element.style.display = "none";
    actions.appendChild(element);
    return element;
  }

  function show(element, visible) { element.style.display = visible ? "" : "none"; }

  function say(text) {
    status.textContent = text || "";
    status.hidden = !text;
  }

  function stopCamera() {
    if (timer) { clearTimeout(timer); timer = null; }
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
    video.hidden = true;
    show(stop, false);
    show(start, true);
    say("");
  }

  function scan() {
    detector.detect(video).then(function (found) {
      if (found.length && found[0].rawValue) {
        code.value = found[0].rawValue;
        method.value = "qr";
        stopCamera();
        form.submit();
        return;
      }
      timer = setTimeout(scan, 200);
    }).catch(function () { timer = setTimeout(scan, 500); });
  }

  function startCamera() {
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (media) {
        stream = media;
        video.srcObject = media;
        video.style.width = "100%";
        video.hidden = false;
        show(start, false);
        show(stop, true);
        say(form.getAttribute("data-scanning-label"));
        remember(true);
        return video.play();
      })
      .then(scan)
      .catch(function () {
        remember(false);
        stopCamera();
        say(form.getAttribute("data-camera-error"));
      });
  }

  window.BarcodeDetector.getSupportedFormats().then(function (formats) {
    if (formats.indexOf("qr_code") === -1) { return; }
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    start = button(form.getAttribute("data-scan-label"));
    stop = button(form.getAttribute("data-stop-label"));
    show(start, true);
    start.addEventListener("click", startCamera);
    stop.addEventListener("click", function () { remember(false); stopCamera(); });
    if (remembered()) { startCamera(); }
  }).catch(function () { /* no detector after all: typing and search remain */ });
})();
