// facemoji web page: live camera and photo upload. Everything is sent only to the
// server this page came from (this computer); nothing is loaded from elsewhere.
"use strict";

(() => {
  const CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  const COLOURS = {
    angry: "#e63946", disgust: "#6a994e", fear: "#8338ec", happy: "#ffbe0b",
    sad: "#3a86ff", surprise: "#fb5607", neutral: "#c8c8c8",
  };
  const SEND_MAX_SIDE = 640; // camera frames are scaled to this before sending
  const JPEG_QUALITY = 0.8;
  const REPLY_TIMEOUT_MS = 5000; // no answer by then: reconnect
  const MAX_BAR_FACES = 4;
  // the covers as the server draws them (facemoji.overlay.cover): all fill the emoji's disc
  const SOLID_COLOUR = "rgb(24, 24, 24)";
  const BLUR_CELLS = 12; // blur: the disc shrunk to this many pixels across and enlarged smoothly again
  const PIXEL_BLOCKS = 10; // pixelate: blocks across the disc

  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const canvas = $("live-canvas");
  const ctx = canvas.getContext("2d");
  const capture = document.createElement("canvas");
  const captureCtx = capture.getContext("2d");
  const scratch = document.createElement("canvas"); // a face's region, shrunk, for blur and pixelate
  const scratchCtx = scratch.getContext("2d");

  // Everything the page knows, also readable by tests as window.facemoji.
  const state = {
    mode: "emoji",
    cover: "emoji", // how faces are hidden, on the camera view and in photos
    strict: false, // also faces turned to profile, covers padded (the server's --strict)
    liveSettings: null, // the options the server last confirmed for the camera connection
    emojiScale: 1.08,
    running: false,
    socket: null,
    inFlight: false,
    sentAt: 0,
    sentBlob: null,
    frameBlob: null, // the frame whose answer is on screen
    result: null, // {width, height, faces}
    results: 0,
    framesSent: 0,
    busyReplies: 0,
    fps: 0,
    latencyMs: 0,
    stream: null,
    upload: null, // last upload's record
  };
  window.facemoji = state;
  state.frameBase64 = () => blobToBase64(state.frameBlob);

  const emoji = {};
  for (const name of CLASSES) {
    const img = new Image();
    img.src = `/emoji/${name}.png`;
    emoji[name] = img;
  }

  fetch("/healthz").then((r) => r.json()).then((h) => {
    if (h.emoji_scale) state.emojiScale = h.emoji_scale;
    if (h.default_mode && !state.modeChosen) {
      state.mode = h.default_mode;
      $("mode").value = h.default_mode;
    }
    if (h.default_cover && !state.coverChosen) {
      state.cover = h.default_cover;
      $("cover").value = h.default_cover;
    }
    if (typeof h.default_strict === "boolean" && !state.strictChosen) {
      state.strict = h.default_strict;
      $("strict").checked = h.default_strict;
    }
  }).catch(() => {});

  function blobToBase64(blob) {
    if (!blob) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const fr = new FileReader();
      fr.onload = () => resolve(String(fr.result).split(",", 2)[1]);
      fr.onerror = () => reject(fr.error);
      fr.readAsDataURL(blob);
    });
  }

  // ---------------------------------------------------------------- drawing
  // as facemoji.overlay.emoji.emoji_box: the diagonal times the scale, rounded up to 2 pixels per 48
  function emojiBox(box, scale) {
    const raw = Math.max(4, Math.ceil(Math.hypot(box.width, box.height) * scale));
    const step = 2 * Math.max(1, Math.floor(raw / 48));
    const side = step * Math.ceil(raw / step);
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    return [Math.round(cx - side / 2), Math.round(cy - side / 2), side];
  }

  // blur, pixelate or solid over the disc of [x, y, side] (picture pixels), on the canvas as it is now
  function drawCover(g, x, y, side, sx, sy, cover) {
    const left = x * sx, top = y * sy, w = side * sx, h = side * sy;
    g.save();
    g.beginPath();
    g.ellipse(left + w / 2, top + h / 2, w / 2, h / 2, 0, 0, 2 * Math.PI);
    g.clip();
    if (cover === "solid") {
      g.fillStyle = SOLID_COLOUR;
      g.fill();
    } else {
      const cells = cover === "blur" ? BLUR_CELLS : PIXEL_BLOCKS;
      scratch.width = cells;
      scratch.height = cells;
      scratchCtx.imageSmoothingEnabled = true;
      scratchCtx.imageSmoothingQuality = "high";
      scratchCtx.drawImage(g.canvas, left, top, w, h, 0, 0, cells, cells);
      g.imageSmoothingEnabled = cover === "blur";
      g.drawImage(scratch, 0, 0, cells, cells, left, top, w, h);
    }
    g.restore();
  }

  function drawFaces(g, faces, sx, sy, mode, cover) {
    const byArea = [...faces].sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height);
    if (mode === "emoji" || mode === "both") {
      for (const f of byArea) {
        // cover_box: where the server says the cover goes (the face's box, padded, more so when strict)
        const [x, y, side] = emojiBox(f.cover_box || f.box, state.emojiScale);
        if (cover && cover !== "emoji") {
          drawCover(g, x, y, side, sx, sy, cover);
          continue;
        }
        const img = emoji[f.emotion] || emoji.neutral;
        if (img.complete && img.naturalWidth) g.drawImage(img, x * sx, y * sy, side * sx, side * sy);
      }
    }
    if (mode === "boxes" || mode === "both") {
      const thick = Math.max(2, Math.round(Math.min(g.canvas.width, g.canvas.height) / 250));
      for (const f of faces) {
        const colour = COLOURS[f.emotion] || "#00ffff";
        const x = f.box.x * sx, y = f.box.y * sy, w = f.box.width * sx, h = f.box.height * sy;
        g.lineWidth = thick;
        g.strokeStyle = colour;
        g.strokeRect(x, y, w, h);
        const p = f.probabilities ? f.probabilities[f.emotion] : null;
        const label = p == null ? f.emotion : `${f.emotion} ${Math.round(p * 100)}%`;
        const size = Math.max(12, Math.round(w / 8));
        g.font = `${size}px system-ui, sans-serif`;
        const tw = g.measureText(label).width;
        const ty = y - size - 6 >= 0 ? y - size - 6 : y + h + 2;
        g.fillStyle = colour;
        g.fillRect(x, ty, tw + 8, size + 6);
        g.fillStyle = "#000";
        g.textBaseline = "top";
        g.fillText(label, x + 4, ty + 3);
      }
    }
  }

  function renderBars(container, faces) {
    container.textContent = "";
    faces.slice(0, MAX_BAR_FACES).forEach((f, i) => {
      const card = document.createElement("div");
      card.className = "face-card";
      card.dataset.emotion = f.emotion;
      const h = document.createElement("h3");
      const icon = document.createElement("img");
      icon.src = `/emoji/${f.emotion}.png`;
      icon.alt = "";
      h.append(icon, `Face ${i + 1}: ${f.emotion}`);
      card.append(h);
      const probs = f.probabilities || {};
      const order = CLASSES.filter((c) => c in probs).sort((a, b) => probs[b] - probs[a]);
      order.forEach((c, k) => {
        const row = document.createElement("div");
        row.className = k === 0 ? "bar-row top" : "bar-row";
        row.dataset.class = c;
        const name = document.createElement("span");
        name.textContent = c;
        const track = document.createElement("div");
        track.className = "bar-track";
        const fill = document.createElement("div");
        fill.className = `bar-fill c-${c}`;
        fill.style.width = `${(probs[c] * 100).toFixed(1)}%`;
        track.append(fill);
        const value = document.createElement("span");
        value.className = "bar-value";
        value.textContent = `${Math.round(probs[c] * 100)}%`;
        row.append(name, track, value);
        card.append(row);
      });
      container.append(card);
    });
    if (faces.length > MAX_BAR_FACES) {
      const more = document.createElement("p");
      more.className = "message";
      more.textContent = `and ${faces.length - MAX_BAR_FACES} more faces`;
      container.append(more);
    }
    if (!faces.length) {
      const none = document.createElement("p");
      none.className = "message";
      none.textContent = "No face found.";
      container.append(none);
    }
  }

  // ------------------------------------------------------------ live camera
  const liveMessage = $("live-message");
  const stats = $("stats");
  const toggle = $("camera-toggle");
  const resultTimes = [];

  function say(el, text, isError = false) {
    el.textContent = text;
    el.classList.toggle("error", isError);
  }

  function paint() {
    if (!state.running) return;
    if (video.readyState >= 2 && video.videoWidth) {
      if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
      }
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const r = state.result;
      if (r && r.faces.length) {
        drawFaces(ctx, r.faces, canvas.width / r.width, canvas.height / r.height, state.mode, state.cover);
      }
    }
    requestAnimationFrame(paint);
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/live?${optionsQuery()}`);
    ws.binaryType = "arraybuffer";
    state.socket = ws;
    state.inFlight = false;
    ws.onopen = () => sendFrame();
    ws.onmessage = (ev) => onReply(ev.data);
    ws.onclose = (ev) => {
      if (state.socket !== ws) return;
      state.socket = null;
      state.inFlight = false;
      if (state.running) {
        say(stats, ev.code === 1013 ? "server busy, reconnecting…" : "connection lost, reconnecting…");
        setTimeout(() => { if (state.running && !state.socket) connect(); }, 1000);
      }
    };
  }

  function optionsQuery() {
    return `cover=${encodeURIComponent(state.cover)}&strict=${state.strict ? "true" : "false"}`;
  }

  // the camera connection's options follow the controls without reconnecting
  function sendSettings() {
    const ws = state.socket;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ cover: state.cover, strict: state.strict }));
  }

  // Only one frame is ever in flight: the next one is grabbed from the camera
  // when the answer to the last arrives, so frames never queue up anywhere.
  function sendFrame() {
    const ws = state.socket;
    if (!state.running || !ws || ws.readyState !== WebSocket.OPEN || state.inFlight) return;
    if (video.readyState < 2 || !video.videoWidth) {
      setTimeout(sendFrame, 50);
      return;
    }
    const k = Math.min(1, SEND_MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    capture.width = Math.round(video.videoWidth * k);
    capture.height = Math.round(video.videoHeight * k);
    captureCtx.drawImage(video, 0, 0, capture.width, capture.height);
    state.inFlight = true;
    capture.toBlob((blob) => {
      if (!blob || state.socket !== ws || ws.readyState !== WebSocket.OPEN) {
        state.inFlight = false;
        return;
      }
      state.sentBlob = blob;
      state.sentAt = performance.now();
      state.framesSent += 1;
      ws.send(blob);
    }, "image/jpeg", JPEG_QUALITY);
  }

  function onReply(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === "settings") { // the answer to sendSettings, not to a frame
      state.liveSettings = msg;
      return;
    }
    if (msg.type === "error" && msg.seq === undefined) { // a refused settings message
      say(stats, msg.error || "error");
      return;
    }
    state.inFlight = false;
    const now = performance.now();
    if (msg.type === "result") {
      state.liveSettings = { cover: msg.cover, strict: msg.strict };
      state.result = msg;
      state.frameBlob = state.sentBlob;
      state.results += 1;
      state.latencyMs = now - state.sentAt;
      resultTimes.push(now);
      while (resultTimes.length && now - resultTimes[0] > 1000) resultTimes.shift();
      state.fps = resultTimes.length;
      say(stats, `${state.fps} fps · ${Math.round(state.latencyMs)} ms per frame · ` +
        `${msg.faces.length} face${msg.faces.length === 1 ? "" : "s"}`);
      renderBars($("live-bars"), msg.faces);
      sendFrame();
    } else if (msg.type === "busy") {
      state.busyReplies += 1;
      say(stats, "server busy, waiting…");
      setTimeout(sendFrame, 1000 * (msg.retry_after || 1));
    } else {
      say(stats, msg.error || "error");
      setTimeout(sendFrame, 200);
    }
  }

  setInterval(() => {
    // a lost answer must not stall the camera forever
    if (state.running && state.inFlight && state.socket && performance.now() - state.sentAt > REPLY_TIMEOUT_MS) {
      const ws = state.socket;
      state.socket = null;
      ws.close();
      connect();
    }
  }, 1000);

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(liveMessage, "This browser cannot use a camera here (cameras need https or localhost).", true);
      return;
    }
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
      });
    } catch (e) {
      say(liveMessage, `No camera: ${e.message || e.name}`, true);
      return;
    }
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    state.running = true;
    toggle.textContent = "Stop camera";
    say(liveMessage, "");
    say(stats, "connecting…");
    requestAnimationFrame(paint);
    connect();
  }

  function stopCamera() {
    state.running = false;
    if (state.socket) state.socket.close();
    state.socket = null;
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    toggle.textContent = "Start camera";
    say(stats, "camera off");
  }

  toggle.addEventListener("click", () => (state.running ? stopCamera() : startCamera()));
  $("mode").addEventListener("change", (e) => {
    state.mode = e.target.value;
    state.modeChosen = true;
    if (state.lastFile) uploadFile(state.lastFile);
  });
  $("cover").addEventListener("change", (e) => {
    state.cover = e.target.value;
    state.coverChosen = true;
    sendSettings();
    if (state.lastFile) uploadFile(state.lastFile);
  });
  $("strict").addEventListener("change", (e) => {
    state.strict = e.target.checked;
    state.strictChosen = true;
    sendSettings();
    if (state.lastFile) uploadFile(state.lastFile);
  });

  // ------------------------------------------------------------------ upload
  const drop = $("drop-zone");
  const fileInput = $("file-input");
  const uploadMessage = $("upload-message");
  let resultUrl = null;

  async function uploadFile(file) {
    state.lastFile = file;
    say(uploadMessage, `Working on ${file.name}…`);
    const fmt = /png$/i.test(file.type) ? "png" : "jpeg";
    const body = new FormData();
    body.append("file", file, file.name);
    let r;
    try {
      const query = `mode=${encodeURIComponent(state.mode)}&${optionsQuery()}&format=${fmt}`;
      r = await fetch(`/api/v1/emojify?${query}`, { method: "POST", body });
    } catch (e) {
      say(uploadMessage, `The server did not answer (${e.message}).`, true);
      return;
    }
    if (!r.ok) {
      $("upload-figure").hidden = true; // an old result must not pass for this file's
      $("upload-bars").textContent = "";
      let why = `${r.status} ${r.statusText}`;
      try { why = (await r.json()).error || why; } catch { /* not JSON */ }
      say(uploadMessage, r.status === 503 ? `The server is busy; try again in a moment. (${why})` : why, true);
      return;
    }
    const blob = await r.blob();
    let record = { faces: [] };
    try { record = JSON.parse(r.headers.get("X-Facemoji-Result") || "{}"); } catch { /* keep empty */ }
    state.upload = record;
    if (resultUrl) URL.revokeObjectURL(resultUrl);
    resultUrl = URL.createObjectURL(blob);
    $("upload-result").src = resultUrl;
    const a = $("download");
    a.href = resultUrl;
    a.download = `${file.name.replace(/\.[^.]*$/, "") || "photo"}.facemoji.${fmt === "png" ? "png" : "jpg"}`;
    $("upload-figure").hidden = false;
    const n = record.faces_total ?? (record.faces || []).length;
    say(uploadMessage, `${file.name}: ${n} face${n === 1 ? "" : "s"} found.`);
    renderBars($("upload-bars"), record.faces || []);
  }

  fileInput.addEventListener("change", () => {
    if (fileInput.files && fileInput.files[0]) uploadFile(fileInput.files[0]);
  });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.add("over");
  }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => {
    e.preventDefault();
    drop.classList.remove("over");
  }));
  drop.addEventListener("drop", (e) => {
    const f = e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files[0];
    if (f) uploadFile(f);
  });
})();
