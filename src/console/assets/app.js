// imglake console: upload (presigned POST), the live image list and details, and the
// dashboard of sql/queries and sql/checks. Talks only to this origin; builds the page with DOM
// calls (never innerHTML), so file names, tenants and error messages stay text.
"use strict";

(function () {
  const POLL_MS = 2000;
  const UPLOAD_POLL_MS = 1000;
  const PARALLEL_UPLOADS = 3;
  const STATUSES = ["RECEIVED", "PROCESSING", "PROCESSED", "REJECTED", "FAILED", "ABANDONED"];
  // Statuses an image never leaves (ABANDONED: its upload form expired unused).
  const TERMINAL = new Set(["PROCESSED", "REJECTED", "FAILED", "ABANDONED"]);
  // Longest wait the upload page honours from a Retry-After before asking again.
  const MAX_RETRY_WAIT_S = 60;
  // How long the upload page keeps asking a busy server (429/503) before it gives up on a file.
  const BUSY_GIVE_UP_MS = 10 * 60 * 1000;

  const state = {
    config: null,
    view: null,
    lake: null,
    list: { filter: { status: "", source: "", tenant: "" }, cursors: [null], page: 0, shown: null },
    detail: { id: null, settled: false, shown: null },
    dashboard: { cursor: undefined, charts: new Map(), catalog: null, loading: false },
    uploads: [],
    uploadQueue: [],
    activeUploads: 0,
  };

  // ---------------------------------------------------------------- helpers

  const $ = (id) => document.getElementById(id);

  /** An element: h("a", {href: "#/x", class: "y"}, "text", child, …). */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function bytes(n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KB", "MB", "GB", "TB"];
    let v = Number(n);
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + " " + units[i];
  }

  function plural(n, word) {
    return `${count(n)} ${word}${Number(n) === 1 ? "" : "s"}`;
  }

  function count(n) {
    return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
  }

  function ms(n) {
    if (n === null || n === undefined) return "–";
    return n < 1000 ? `${Math.round(n)} ms` : `${parseFloat((n / 1000).toFixed(n < 10000 ? 2 : 1))} s`;
  }

  function isoTime(epochMs) {
    return epochMs === null || epochMs === undefined ? "–" : new Date(epochMs).toISOString().replace(".000Z", "Z");
  }

  function ago(epochMs) {
    if (!epochMs) return "–";
    const s = Math.max(0, Math.round((Date.now() - epochMs) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }

  function timeEl(epochMs) {
    return h("time", { datetime: isoTime(epochMs), title: isoTime(epochMs) }, ago(epochMs));
  }

  function badge(status) {
    return h("span", { class: `badge ${status || ""}` }, status || "unknown");
  }

  /** GET a JSON document of this origin; errors carry the server's code and message. */
  async function getJson(path) {
    const r = await fetch(path, { headers: { accept: "application/json" }, cache: "no-store" });
    let body = null;
    try { body = await r.json(); } catch (_) { body = null; }
    if (!r.ok) {
      const e = (body && body.error) || {};
      const err = new Error(`${r.status} ${e.code || r.statusText}: ${e.message || "no details"}`);
      err.status = r.status;
      err.code = e.code;
      throw err;
    }
    return body;
  }

  function showBanner(message) {
    const b = $("banner");
    if (message) { b.textContent = message; b.hidden = false; } else { b.hidden = true; b.textContent = ""; }
  }

  function setChildren(el, ...children) {
    el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  }

  /** What identifies an element across a re-render: its id, link target or control name,
   * qualified by the nearest keyed ancestor (a row's image id, a card's id). */
  function uiKey(el, root) {
    let own = el.id ? `#${el.id}`
      : el.getAttribute("href") ? `href=${el.getAttribute("href")}`
        : el.name ? `name=${el.name}`
          : el.tagName === "SUMMARY" || el.tagName === "DETAILS"
            ? `${el.tagName}:${(el.tagName === "SUMMARY" ? el : el.querySelector("summary") || el).textContent.trim()}`
            : null;
    if (!own) return null;
    for (let p = el.parentElement; p && p !== root; p = p.parentElement) {
      const k = p.dataset && (p.dataset.imageId || p.dataset.query || p.dataset.check);
      if (k || p.id) { own = `${k || "#" + p.id}/${own}`; break; }
    }
    return own;
  }

  /** Re-renders `root` by `render()` while keeping what the reader was doing there: the
   * keyboard focus (the element with the same key gets it back) and which <details> were
   * open or closed by hand. A live page must not close what someone opened, nor throw their
   * focus to the top of the document every refresh. */
  function keepingUi(root, render) {
    const active = document.activeElement;
    const focusKey = active && root.contains(active) ? uiKey(active, root) : null;
    const details = new Map();
    for (const d of root.querySelectorAll("details")) {
      const k = uiKey(d, root);
      if (k) details.set(k, d.open);
    }
    render();
    for (const d of root.querySelectorAll("details")) {
      const k = uiKey(d, root);
      if (k && details.has(k)) d.open = details.get(k);
    }
    if (focusKey && !root.contains(document.activeElement)) {
      const again = Array.from(root.querySelectorAll("a[href], button, summary, select, input, [tabindex]"))
        .find((el) => uiKey(el, root) === focusKey);
      if (again) again.focus({ preventScroll: true });
    }
  }

  // ---------------------------------------------------------------- routing

  function parseRoute() {
    const hash = location.hash || "#/upload";
    if (!hash.startsWith("#/")) return null; // e.g. the skip link's #main
    const [path, query] = hash.slice(2).split("?");
    const params = new URLSearchParams(query || "");
    const parts = path.split("/").filter(Boolean);
    if (parts[0] === "images" && parts[1]) return { view: "detail", id: decodeURIComponent(parts[1]) };
    if (parts[0] === "images") return { view: "images", params };
    if (parts[0] === "dashboard") return { view: "dashboard" };
    return { view: "upload" };
  }

  function route(initial) {
    const r = parseRoute();
    if (!r) { $("main").focus(); return; }
    for (const v of ["upload", "images", "detail", "dashboard"]) $(`view-${v}`).hidden = v !== r.view;
    for (const a of document.querySelectorAll("[data-nav]")) {
      const current = a.dataset.nav === r.view || (a.dataset.nav === "images" && r.view === "detail");
      if (current) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    showBanner(null);
    // Focus moves to the heading only when the page changes: a new filter or the same image
    // again keeps the reader where they are.
    const samePage = state.view === r.view && (r.view !== "detail" || state.detail.id === r.id);
    state.view = r.view;
    const titles = { upload: "Upload", images: "Images", detail: "Image", dashboard: "Dashboard" };
    document.title = `${titles[r.view]} · imglake console`;
    if (r.view === "images") {
      applyFilter({ status: r.params.get("status") || "", source: r.params.get("source") || "", tenant: r.params.get("tenant") || "" });
      loadFacets();
    } else if (r.view === "detail") {
      state.detail = { id: r.id, settled: false, shown: null };
      setChildren($("detail-body"), h("p", { class: "empty" }, "Loading…"));
      $("detail-title").textContent = `Image ${r.id}`;
      loadDetail();
    } else if (r.view === "dashboard") {
      state.dashboard.cursor = undefined;
      loadDashboard();
    }
    if (!initial && !samePage) {
      const heading = document.querySelector(`#view-${r.view} h1`);
      if (heading) heading.focus();
    }
  }

  // ---------------------------------------------------------------- lake line (every page)

  async function refreshLake() {
    try {
      const lake = await getJson("/console/api/lake");
      state.lake = lake;
      const parts = [`Lake: ${plural(lake.files, "file")}, ${bytes(lake.bytes)}`];
      parts.push(lake.pending_changes > 0 ? `${plural(lake.pending_changes, "change")} waiting` : "up to date");
      if (lake.last_write_ms) parts.push(`written ${ago(lake.last_write_ms)}`);
      $("lake-line").textContent = parts.join(" · ");
      showBanner(null);
      return lake;
    } catch (err) {
      showBanner(`The server did not answer (${err.message}); retrying every ${POLL_MS / 1000} s.`);
      return null;
    }
  }

  // ---------------------------------------------------------------- upload

  function uploadLimitText() {
    const c = state.config;
    if (!c) return "";
    const megapixels = Math.round(c.max_pixels / 1e6);
    return `JPEG, PNG, WebP${c.allow_tiff ? ", GIF and TIFF" : " and GIF"}, up to ${bytes(c.max_bytes)} and ${megapixels} megapixels each.`;
  }

  function addFiles(fileList) {
    const files = Array.from(fileList || []);
    if (!files.length) return;
    const tenantInput = $("tenant");
    const tenant = tenantInput.value.trim() || "default";
    for (const file of files) {
      const u = { file, tenant, state: "waiting", imageId: null, progress: 0, text: "Waiting…", el: null };
      u.el = renderUpload(u);
      state.uploads.push(u);
      state.uploadQueue.push(u);
      $("uploads").prepend(u.el);
    }
    $("uploads-empty").hidden = true;
    pumpUploads();
  }

  function renderUpload(u) {
    const li = h("li", { class: "upload", dataset: { state: u.state } });
    li.append(
      h("span", { class: "name" }, u.file.name || "(unnamed file)"),
      h("span", { class: "size" }, bytes(u.file.size)),
      h("progress", { max: "100", value: "0", "aria-label": `Upload of ${u.file.name}` }),
      h("span", { class: "state" }, u.text),
    );
    return li;
  }

  function updateUpload(u, patch) {
    Object.assign(u, patch);
    const li = u.el;
    li.dataset.state = u.state;
    if (u.imageId) li.dataset.imageId = u.imageId;
    const progress = li.querySelector("progress");
    progress.value = u.progress;
    progress.hidden = !(u.state === "uploading" || u.state === "waiting");
    const stateEl = li.querySelector(".state");
    const children = [];
    if (u.code) children.push(h("span", { class: "code" }, u.code), " ");
    children.push(u.text);
    if (u.imageId && u.state !== "waiting" && u.state !== "error") {
      children.push(" · ", h("a", { href: `#/images/${encodeURIComponent(u.imageId)}` }, "details"));
    }
    setChildren(stateEl, children);
  }

  function pumpUploads() {
    while (state.activeUploads < PARALLEL_UPLOADS && state.uploadQueue.length) {
      const u = state.uploadQueue.shift();
      state.activeUploads++;
      uploadOne(u).catch((err) => {
        updateUpload(u, { state: "error", code: null, text: `The upload failed: ${err.message}` });
      }).finally(() => {
        state.activeUploads--;
        pumpUploads();
      });
    }
  }

  /** Where to post a form: the URL the API gave, on this origin when it names this server. */
  function formUrl(url) {
    const u = new URL(url, location.href);
    const loopback = ["127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]"];
    if (u.origin !== location.origin && u.port === location.port && loopback.includes(u.hostname)) {
      return location.origin + u.pathname + u.search;
    }
    return u.href;
  }

  async function uploadOne(u) {
    const c = state.config;
    // The form's content-length-range would refuse it after the whole upload: say so first.
    if (c && u.file.size > c.max_bytes) {
      updateUpload(u, {
        state: "rejected", code: "413 too_large",
        text: `${bytes(u.file.size)} is over the limit of ${bytes(c.max_bytes)} per image; not uploaded.`,
      });
      return;
    }
    updateUpload(u, { state: "uploading", text: "Asking for an upload form…" });
    // A busy server (429 too many forms for this tenant, 503 full) says when to come back:
    // wait that long and ask again, instead of losing the file.
    const giveUpAt = Date.now() + BUSY_GIVE_UP_MS;
    let r;
    let body;
    for (;;) {
      r = await fetch("/images", { method: "POST", headers: { [c ? c.tenant_header : "x-imglake-tenant"]: u.tenant } });
      body = null;
      try { body = await r.json(); } catch (_) { body = null; }
      const wait = busyWait(r.status, r.headers.get("retry-after"));
      if (wait === null || Date.now() + wait > giveUpAt) break;
      const e = (body && body.error) || {};
      updateUpload(u, { code: `${r.status} ${e.code || ""}`.trim(), text: `The server is busy; asking again in ${ms(wait)}…` });
      await sleep(wait);
      updateUpload(u, { code: null, text: "Asking for an upload form…" });
    }
    if (!r.ok) {
      const e = (body && body.error) || {};
      updateUpload(u, { state: "error", code: `${r.status} ${e.code || ""}`.trim(), text: e.message || "the form was refused" });
      return;
    }
    updateUpload(u, { imageId: body.image_id, text: "Uploading…" });
    const form = new FormData();
    const fields = body.upload.fields;
    if ("key" in fields) form.append("key", fields.key);
    for (const [k, v] of Object.entries(fields)) if (k !== "key") form.append(k, v);
    form.append("file", u.file, u.file.name);
    let answer;
    for (;;) {
      answer = await postForm(u, body.upload.url, form);
      const wait = answer.status === 503 ? busyWait(503, answer.retryAfter) : null;
      if (wait === null || Date.now() + wait > giveUpAt) break;
      updateUpload(u, { code: "503", progress: 0, text: `The server is busy; sending again in ${ms(wait)}…` });
      await sleep(wait);
      updateUpload(u, { code: null, text: "Uploading…" });
    }
    if (answer.status < 200 || answer.status >= 300) {
      let e = {};
      try { e = JSON.parse(answer.text).error || {}; } catch (_) { e = {}; }
      updateUpload(u, { state: "rejected", code: `${answer.status} ${e.code || ""}`.trim(), text: e.message || "the upload was refused" });
      return;
    }
    updateUpload(u, { state: "stored", progress: 100, text: "Stored; waiting for processing…" });
    await followUpload(u);
  }

  /** Posts the signed form with the file, showing progress; resolves with the answer. */
  function postForm(u, url, form) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", formUrl(url));
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) {
          // The bar shows the share; the text (read out by screen readers) changes with
          // the state only.
          updateUpload(u, { progress: Math.round((100 * e.loaded) / e.total) });
        }
      });
      xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText, retryAfter: xhr.getResponseHeader("retry-after") }));
      xhr.addEventListener("error", () => reject(new Error("the connection failed")));
      xhr.addEventListener("abort", () => reject(new Error("the upload was aborted")));
      xhr.send(form);
    });
  }

  /** Polls the public API (GET /images/{id}) until the image is processed or refused. */
  async function followUpload(u) {
    for (;;) {
      let item;
      try {
        item = await getJson(`/images/${encodeURIComponent(u.imageId)}`);
      } catch (err) {
        if (err.status === 404) {
          updateUpload(u, { state: "error", code: "404", text: "the image is gone (expired or deleted)" });
          return;
        }
        await sleep(UPLOAD_POLL_MS);
        continue;
      }
      if (item.status === "PROCESSED") {
        const variants = (item.variants || []).length;
        const dims = item.width && item.height ? `${item.width}×${item.height}, ` : "";
        updateUpload(u, { state: "processed", code: null, text: `Processed: ${dims}${variants} variant${variants === 1 ? "" : "s"}` });
        return;
      }
      if (TERMINAL.has(item.status)) {
        const code = item.error_code || "unknown";
        const status = state.config && state.config.rejections[code];
        const label = item.status === "REJECTED" ? `${status || 422} ${code}` : `${item.status} ${code}`;
        updateUpload(u, { state: item.status.toLowerCase(), code: label, text: item.error_message || "" });
        return;
      }
      updateUpload(u, { text: item.status === "PROCESSING" ? "Processing…" : "Stored; waiting for processing…" });
      await sleep(UPLOAD_POLL_MS);
    }
  }

  function sleep(msDelay) { return new Promise((r) => setTimeout(r, msDelay)); }

  /** How long to wait before asking again after `status`, in ms; null when not a busy answer.
   * Honours Retry-After in seconds (an HTTP date counts from now), at least 1 s and at most
   * MAX_RETRY_WAIT_S, with a little jitter so a batch of files does not return at once. */
  function busyWait(status, retryAfter) {
    if (status !== 429 && status !== 503) return null;
    let secs = Number(retryAfter);
    if (!Number.isFinite(secs)) {
      const at = Date.parse(retryAfter || "");
      secs = Number.isNaN(at) ? 2 : (at - Date.now()) / 1000;
    }
    secs = Math.min(MAX_RETRY_WAIT_S, Math.max(1, secs));
    return Math.round(secs * 1000 * (1 + Math.random() * 0.25));
  }

  function setUpDropZone() {
    const drop = $("drop");
    const input = $("files");
    input.addEventListener("change", () => { addFiles(input.files); input.value = ""; });
    for (const ev of ["dragenter", "dragover"]) {
      drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("dragging"); });
    }
    for (const ev of ["dragleave", "drop"]) {
      drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("dragging"); });
    }
    drop.addEventListener("drop", (e) => addFiles(e.dataTransfer && e.dataTransfer.files));
    // A file dropped beside the zone must not replace the console with the image.
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());
  }

  // ---------------------------------------------------------------- image list

  function listHash(filter) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? `#/images?${s}` : "#/images";
  }

  function fillSelect(select, values, current, label) {
    const options = [h("option", { value: "" }, "Any")];
    const seen = new Set();
    for (const { value, count: n } of values) {
      seen.add(value);
      options.push(h("option", { value }, `${label ? label(value) : value} (${count(n)})`));
    }
    if (current && !seen.has(current)) options.push(h("option", { value: current }, `${current} (0)`));
    setChildren(select, options);
    select.value = current || "";
  }

  async function loadFacets() {
    try {
      const f = await getJson("/console/api/facets");
      const statuses = STATUSES.map((s) => ({ value: s, count: (f.statuses.find((x) => x.value === s) || { count: 0 }).count }));
      fillSelect($("filter-status"), statuses, state.list.filter.status);
      fillSelect($("filter-source"), f.sources, state.list.filter.source);
      fillSelect($("filter-tenant"), f.tenants, state.list.filter.tenant);
    } catch (err) {
      showBanner(`Cannot count the images: ${err.message}`);
    }
  }

  async function loadList() {
    const l = state.list;
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(l.filter)) if (v) q.set(k, v);
    q.set("limit", "50");
    const cursor = l.cursors[l.page];
    if (cursor) q.set("after", cursor);
    const asked = q.toString();
    const view = JSON.stringify([l.filter, l.page]);
    let page;
    try {
      page = await getJson(`/console/api/images?${asked}`);
    } catch (err) {
      showBanner(`Cannot list the images: ${err.message}`);
      return;
    }
    // A newer filter or page was asked for meanwhile: this answer is stale.
    if (state.view !== "images" || JSON.stringify([l.filter, l.page]) !== view) return;
    l.cursors[l.page + 1] = page.next || null;
    renderList(page);
  }

  /** Brings the "3 s ago" texts under `root` up to date without redrawing anything else. */
  function refreshTimes(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const when = Date.parse(t.getAttribute("datetime"));
      if (!Number.isNaN(when)) t.textContent = ago(when);
    }
  }

  function renderList(page) {
    const l = state.list;
    // The same answer as last time: leave the rows alone (focus, selection, hover) and only
    // age their times.
    const shown = JSON.stringify([l.filter, l.page, page.images, page.total, page.next]);
    if (shown !== l.shown) {
      l.shown = shown;
      keepingUi($("image-rows"), () => setChildren($("image-rows"), listRows(page)));
    } else {
      refreshTimes($("image-rows"));
    }
    listSummary(page);
  }

  function listRows(page) {
    return page.images.map((img) => {
      const thumb = img.thumbnail
        ? h("img", { src: img.thumbnail, alt: "", width: "48", height: "48", loading: "lazy" })
        : h("span", { class: "placeholder", "aria-hidden": "true" }, img.status === "PROCESSED" ? "–" : "no image");
      const why = img.error_code
        ? h("span", { class: "why" }, `${img.http_status ? img.http_status + " " : ""}${img.error_code}`)
        : null;
      return h("tr", { dataset: { imageId: img.image_id, status: img.status } },
        h("td", { class: "thumb" }, thumb),
        h("td", { class: "id", "data-label": "Image" }, h("a", { href: `#/images/${encodeURIComponent(img.image_id)}` }, img.image_id)),
        h("td", { class: "status", "data-label": "Status" }, badge(img.status), why),
        h("td", { "data-label": "Source" }, img.source || "–"),
        h("td", { "data-label": "Tenant" }, img.tenant || "–"),
        h("td", { "data-label": "Format" }, img.format || "–"),
        h("td", { class: "num", "data-label": "Pixels" }, img.width && img.height ? `${img.width}×${img.height}` : "–"),
        h("td", { class: "num", "data-label": "Size" }, bytes(img.size_bytes)),
        h("td", { "data-label": "Received" }, timeEl(img.received_at)),
      );
    });
  }

  function listSummary(page) {
    const l = state.list;
    const first = l.page * 50 + (page.images.length ? 1 : 0);
    const last = l.page * 50 + page.images.length;
    const filtered = Object.values(l.filter).some(Boolean) ? " matching" : "";
    $("list-summary").textContent = page.total
      ? `Showing ${count(first)}–${count(last)} of ${count(page.total)}${filtered} images, newest first · live, updated ${new Date().toLocaleTimeString("en-GB")}`
      : `No${filtered} images yet. Upload some, or send them to PUT /images.`;
    $("page-newer").disabled = l.page === 0;
    $("page-older").disabled = !page.next;
    $("page-label").textContent = `Page ${l.page + 1}`;
    // For timing by tests and by hand: which page, under which filter, was drawn when.
    performance.mark("imglake:images-rendered", { detail: { page: l.page, filter: { ...l.filter }, rows: page.images.length } });
  }

  /** Shows the list under `filter` (from page one when it changed). */
  function applyFilter(filter) {
    const l = state.list;
    if (JSON.stringify(filter) !== JSON.stringify(l.filter)) {
      l.filter = filter;
      l.cursors = [null];
      l.page = 0;
      l.shown = null;
    }
    loadList();
  }

  function setUpList() {
    const form = $("filters");
    // A select changes with every arrow key: the list follows in place, the address keeps the
    // filter (replaced, not one history entry per key) and the focus stays on the select.
    form.addEventListener("change", () => {
      const data = new FormData(form);
      const filter = { status: data.get("status") || "", source: data.get("source") || "", tenant: data.get("tenant") || "" };
      history.replaceState(null, "", listHash(filter));
      applyFilter(filter);
    });
    form.addEventListener("submit", (e) => e.preventDefault());
    $("page-older").addEventListener("click", () => {
      if (!state.list.cursors[state.list.page + 1]) return;
      state.list.page++;
      loadList();
    });
    $("page-newer").addEventListener("click", () => {
      if (state.list.page === 0) return;
      state.list.page--;
      loadList();
    });
  }

  // ---------------------------------------------------------------- image detail

  function facts(pairs) {
    return h("dl", { class: "facts" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
  }

  function table(columns, rows, opts) {
    const o = opts || {};
    return h("div", { class: "table-wrap" },
      h("table", { class: o.class || "" },
        o.caption ? h("caption", { class: "visually-hidden" }, o.caption) : null,
        h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
        h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => {
          const v = c.value(r);
          return h("td", { class: c.num ? "num" : null, "data-label": c.label }, v === null || v === undefined ? "–" : v);
        })))),
      ),
    );
  }

  async function loadDetail() {
    const id = state.detail.id;
    let d;
    try {
      d = await getJson(`/console/api/images/${encodeURIComponent(id)}`);
    } catch (err) {
      if (state.view !== "detail" || state.detail.id !== id) return;
      if (err.status === 404 || err.status === 400) {
        state.detail.settled = true;
        setChildren($("detail-body"), h("p", { class: "error-box" }, err.message));
      } else {
        showBanner(`Cannot read the image: ${err.message}`);
      }
      return;
    }
    if (state.view !== "detail" || state.detail.id !== id) return;
    const shown = JSON.stringify(d);
    if (shown === state.detail.shown) {
      refreshTimes($("detail-body"));
      return;
    }
    state.detail.shown = shown;
    keepingUi($("detail-body"), () => renderDetail(d));
  }

  function renderDetail(d) {
    const item = d.item;
    const hist = d.history.rows || [];
    const lastLake = hist.length ? hist[hist.length - 1] : null;
    const status = item ? item.status : lastLake && lastLake.status;
    const title = $("detail-title");
    setChildren(title, "Image ", h("code", {}, d.image_id), " ", badge(status));
    const cards = [];

    const display = (d.variants || []).find((v) => v.name === "display") || (d.variants || [])[0];
    if (display && display.url) {
      cards.push(h("section", { class: "card preview" },
        h("h2", {}, "Preview"),
        h("img", { src: display.url, alt: `The ${display.name} variant of image ${d.image_id}`, width: display.width, height: display.height })));
    }

    const why = {
      REJECTED: ["Why it was refused", (code) => `${d.http_status || 422} ${code}`],
      FAILED: ["Why processing failed", (code) => `FAILED ${code}`],
      ABANDONED: ["Why it was abandoned", (code) => `ABANDONED ${code}`],
    }[item && item.status];
    if (why) {
      const code = item.error_code || "unknown";
      cards.push(h("section", { class: "card", id: "why" },
        h("h2", {}, why[0]),
        h("div", { class: "error-box" },
          h("p", {}, h("span", { class: "code" }, why[1](code))),
          h("p", {}, item.error_message || "no message"))));
    }

    if (item) {
      const received = item.received_at;
      const processed = item.processed_at;
      const processedRow = hist.find((r) => r.status === "PROCESSED" || r.status === "REJECTED" || r.status === "FAILED");
      const exported = processedRow && processedRow.exported_at ? Date.parse(processedRow.exported_at) : null;
      cards.push(h("section", { class: "card" }, h("h2", {}, "Timings"), facts([
        ["Received", timeEl(received)],
        ["Finished", processed ? timeEl(processed) : "–"],
        ["Processing", ms(item.processing_ms)],
        ["Received → finished", processed ? ms(processed - received) : "–"],
        ["Finished → in the lake", exported && processed ? ms(exported - processed) : (TERMINAL.has(item.status) ? "waiting for the next flush" : "–")],
        ["Expires (TTL)", isoTime(item.expires_at * 1000)],
      ])));

      const swatch = item.dominant_color ? h("span", { class: "swatch", "aria-hidden": "true" }) : null;
      if (swatch) swatch.style.backgroundColor = item.dominant_color;
      cards.push(h("section", { class: "card" }, h("h2", {}, "Image"), facts([
        ["Source", `${item.source || "–"}${item.source_ref ? " · " + item.source_ref : ""}`],
        ["Tenant", item.tenant || "–"],
        ["Format", `${item.format || "–"}${item.content_type ? " (" + item.content_type + ")" : ""}`],
        ["Pixels", item.width && item.height ? `${item.width}×${item.height}` : "–"],
        ["Size", item.size_bytes !== undefined ? `${bytes(item.size_bytes)} (${count(item.size_bytes)} bytes)` : "–"],
        ["SHA-256", item.sha256 ? h("code", {}, item.sha256) : "–"],
      ])));

      cards.push(h("section", { class: "card" }, h("h2", {}, "Features"), facts([
        ["Dominant colour", item.dominant_color ? h("span", {}, swatch, h("code", {}, item.dominant_color)) : "–"],
        ["Mean luma", item.mean_luma !== undefined ? item.mean_luma.toFixed(1) + " / 255" : "–"],
        ["Sharpness", item.sharpness !== undefined ? item.sharpness.toFixed(1) + " (Laplacian variance)" : "–"],
        ["Alpha channel", item.has_alpha === undefined ? "–" : item.has_alpha ? "yes" : "no"],
        ["Camera", [item.camera_make, item.camera_model].filter(Boolean).join(" ") || "–"],
        ["Captured", item.captured_at ? isoTime(item.captured_at) : "–"],
        ["Operations", item.operations && item.operations.length ? item.operations.join(", ") : "–"],
      ])));

      if ((d.variants || []).length) {
        cards.push(h("section", { class: "card wide" }, h("h2", {}, "Variants"), table([
          { label: "Variant", value: (v) => v.url ? h("a", { href: v.url }, v.name) : v.name },
          { label: "Format", value: (v) => v.format },
          { label: "Pixels", num: true, value: (v) => `${v.width}×${v.height}` },
          { label: "Size", num: true, value: (v) => bytes(v.bytes) },
          { label: "Key", value: (v) => h("code", {}, v.key) },
        ], d.variants, { caption: "Variants" })));
      }
    } else {
      cards.push(h("section", { class: "card wide" }, h("p", {},
        "This image is no longer in the metadata store (expired by its TTL, or deleted); the lake keeps its history.")));
    }

    const behind = item && (!lastLake || lastLake.status !== item.status || (lastLake.event_name === "REMOVE"));
    const note = d.history_error
      ? h("p", { class: "error-box" }, `The lake could not be read: ${d.history_error}`)
      : behind && item
        ? h("p", { class: "note" }, `The lake has not caught up with the latest change yet: the exporter flushes every ${ms(d.flush_age_ms)} (${count(d.pending_changes)} changes waiting).`)
        : h("p", { class: "note" }, "The lake has every change of this image.");
    cards.push(h("section", { class: "card wide", id: "history" }, h("h2", {}, "History in the lake"),
      h("p", { class: "description" }, "Rows of image_events_dedup for this image, as Athena and imglake query see them."),
      hist.length ? table([
        { label: "Sequence", value: (r) => h("code", {}, String(r.sequence_number).replace(/^0+(?=\d)/, "")) },
        { label: "Event", value: (r) => r.event_name + (r.is_ttl_expiry ? " (TTL)" : "") },
        { label: "Event time", value: (r) => r.event_time },
        { label: "Status", value: (r) => h("span", {}, r.previous_status ? `${r.previous_status} → ` : "", badge(r.status)) },
        { label: "Error", value: (r) => r.error_code },
        { label: "Exported", value: (r) => r.exported_at },
        { label: "Partition", value: (r) => `dt=${r.dt}/hour=${String(r.hour).padStart(2, "0")}` },
      ], hist, { caption: "History in the lake", class: "history" }) : h("p", { class: "empty" }, "No rows in the lake yet."),
      note));

    if (item) {
      cards.push(h("section", { class: "card wide" }, h("details", {},
        h("summary", {}, `The item as GET /images/${d.image_id} returns it`),
        h("pre", {}, JSON.stringify(item, null, 2)))));
    }
    setChildren($("detail-body"), h("div", { class: "detail-grid" }, cards));
    state.detail.settled = !item || (TERMINAL.has(item.status) && !behind && !d.history_error);
  }

  // ---------------------------------------------------------------- dashboard

  let chartLoad = null;
  function loadChartJs() {
    if (window.Chart) return Promise.resolve();
    if (!chartLoad) {
      chartLoad = new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = "/console/assets/chart.umd.min.js";
        s.onload = () => resolve();
        s.onerror = () => reject(new Error("the chart library did not load"));
        document.head.append(s);
      });
    }
    return chartLoad;
  }

  const PALETTE = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"];

  /** Chart specs by query name; a query without one is shown as a table only. */
  const CHARTS = {
    ingest_overview: (rows) => ({
      type: "bar",
      labels: rows.map((r) => `${r.ingest_date || "unknown day"} · ${r.source || "?"}`),
      stacked: true,
      yTitle: "images",
      datasets: [
        ["processed", "Processed", "#2ca02c"],
        ["rejected", "Rejected", "#d62728"],
        ["failed", "Failed", "#8c564b"],
        ["in_flight", "In flight", "#ff7f0e"],
        ["abandoned", "Abandoned", "#bcbd22"],
        ["unknown", "Unknown", "#7f7f7f"],
      ].map(([k, label, color]) => ({ label, color, data: rows.map((r) => r[k]) }))
        .filter((d) => d.data.some((v) => v)),
    }),
    rejection_reasons: (rows) => ({
      type: "bar",
      horizontal: true,
      labels: rows.map((r) => `${r.error_code || "no code"} (${r.status})`),
      xTitle: "images",
      datasets: [{ label: "Images", color: "#d62728", data: rows.map((r) => r.images) }],
    }),
    latency_trend: (rows) => ({
      type: "bar",
      labels: rows.map((r) => `${r.processed_date} · ${r.source}`),
      yTitle: "milliseconds",
      datasets: [
        ["received_to_processed_ms_p50", "Upload → processed p50", "#1f77b4"],
        ["received_to_processed_ms_p90", "Upload → processed p90", "#6baed6"],
        ["received_to_processed_ms_p99", "Upload → processed p99", "#c6dbef"],
        ["processing_ms_p50", "Processing p50", "#ff7f0e"],
        ["processing_ms_p99", "Processing p99", "#fdae6b"],
      ].map(([k, label, color]) => ({ label, color, data: rows.map((r) => r[k]) })),
    }),
    tenant_storage: (rows) => ({
      type: "bar",
      labels: rows.map((r) => r.tenant || "(none)"),
      yTitle: "bytes",
      bytes: true,
      datasets: [
        { label: "Raw uploads", color: "#1f77b4", data: rows.map((r) => r.raw_bytes) },
        { label: "Variants", color: "#2ca02c", data: rows.map((r) => r.processed_bytes) },
      ],
    }),
  };

  function chartConfig(spec) {
    const axisValue = spec.bytes ? (v) => bytes(v) : (v) => count(v);
    const valueAxis = { beginAtZero: true, stacked: !!spec.stacked, ticks: { callback: axisValue }, title: { display: true, text: spec.yTitle || spec.xTitle || "" } };
    // Long labels ("unsupported_format (REJECTED)") would squeeze the bars to nothing on a
    // phone: the axis shows them shortened with an ellipsis, the tooltip in full.
    const labelAxis = {
      stacked: !!spec.stacked,
      ticks: {
        autoSkip: true,
        maxRotation: 45,
        callback(value) {
          const label = String(this.getLabelForValue(value));
          const max = this.chart.width < 500 ? 18 : 40;
          return label.length > max ? `${label.slice(0, max - 1)}…` : label;
        },
      },
    };
    return {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map((d) => ({ label: d.label, data: d.data, backgroundColor: d.color, borderColor: d.color })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: spec.horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
        plugins: {
          legend: { display: spec.datasets.length > 1, position: "bottom" },
          tooltip: { callbacks: { label: (ctx) => `${ctx.dataset.label}: ${axisValue(ctx.raw)}` } },
        },
      },
    };
  }

  function cellText(v) {
    if (v === null || v === undefined) return "–";
    if (typeof v === "number") return Number.isInteger(v) ? count(v) : String(v);
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  /** A result table whose cells keep the raw JSON value (data-value) beside the shown text. */
  function resultTable(result, caption) {
    const cols = result.columns.map((c) => c.name);
    const numeric = new Set(result.columns.filter((c) => /Int|Float|Decimal|UInt/.test(c.type)).map((c) => c.name));
    return h("div", { class: "table-wrap" },
      h("table", { class: "result" },
        h("caption", { class: "visually-hidden" }, caption),
        h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col", class: numeric.has(c) ? "num" : null }, c)))),
        h("tbody", {}, result.rows.map((r) => h("tr", {}, cols.map((c) => h("td", {
          class: numeric.has(c) ? "num" : null,
          "data-column": c,
          "data-value": JSON.stringify(r[c] === undefined ? null : r[c]),
        }, cellText(r[c]))))))));
  }

  function queryCard(q) {
    const card = h("section", { class: "card", id: `query-${q.name}`, dataset: { query: q.name }, "aria-labelledby": `query-${q.name}-title` },
      h("h2", { id: `query-${q.name}-title` }, q.title),
      h("p", { class: "description" }, q.description),
      CHARTS[q.name] ? h("div", { class: "chart" }, h("canvas", { role: "img", "aria-label": `Chart: ${q.title}` })) : null,
      h("div", { class: "result-body" }, h("p", { class: "empty" }, "Loading…")),
      h("details", {}, h("summary", {}, `SQL (${q.path})`), h("pre", { class: "sql" }, "")));
    return card;
  }

  async function loadDashboard() {
    const dash = state.dashboard;
    if (dash.loading) return;
    dash.loading = true;
    try {
      if (!dash.catalog) {
        dash.catalog = await getJson("/console/api/queries");
        setChildren($("dash-queries"), dash.catalog.queries.map(queryCard));
      }
      const lake = state.lake || (await refreshLake());
      const cursor = lake ? lake.cursor : null;
      await loadChartJs().catch((err) => showBanner(`Charts are unavailable: ${err.message}`));
      const results = await Promise.all(dash.catalog.queries.map((q) =>
        getJson(`/console/api/queries/${encodeURIComponent(q.name)}`).then((r) => ({ q, r }), (err) => ({ q, err }))));
      if (state.view !== "dashboard") return;
      for (const { q, r, err } of results) renderQuery(q, r, err);
      let checks;
      try {
        checks = await getJson("/console/api/checks");
        keepingUi($("checks-body"), () => renderChecks(checks));
      } catch (err) {
        setChildren($("checks-body"), h("p", { class: "error-box" }, `The checks could not run: ${err.message}`));
      }
      dash.cursor = cursor;
      const when = new Date().toLocaleTimeString("en-GB");
      $("dash-status").textContent = lake
        ? `Lake at feed position ${count(cursor)} · ${plural(lake.files, "file")} in ${plural(lake.partitions, "partition")} · ${plural(lake.pending_changes, "change")} waiting for the next flush (every ${ms(lake.flush_age_ms)}) · computed at ${when}`
        : `Computed at ${when}`;
      $("view-dashboard").dataset.cursor = String(cursor);
      performance.mark("imglake:dashboard-rendered");
    } catch (err) {
      showBanner(`Cannot load the dashboard: ${err.message}`);
    } finally {
      dash.loading = false;
    }
  }

  function renderQuery(q, r, err) {
    const card = $(`query-${q.name}`);
    if (!card) return;
    const body = card.querySelector(".result-body");
    if (err) {
      setChildren(body, h("p", { class: "error-box" }, `The query failed: ${err.message}`));
      return;
    }
    card.querySelector("pre.sql").textContent = r.sql;
    const rows = r.result.rows;
    setChildren(body,
      rows.length ? resultTable(r.result, q.title) : h("p", { class: "empty" }, "No rows yet: the lake has no data for this query."),
      h("p", { class: "note" }, `${plural(rows.length, "row")}${r.result.truncated ? " (truncated)" : ""} in ${ms(r.elapsed_ms)}`));
    const canvas = card.querySelector("canvas");
    if (!canvas || !window.Chart || !CHARTS[q.name]) return;
    const spec = CHARTS[q.name](rows);
    const existing = state.dashboard.charts.get(q.name);
    if (existing) {
      const cfg = chartConfig(spec);
      existing.data.labels = cfg.data.labels;
      existing.data.datasets = cfg.data.datasets;
      existing.update("none");
    } else {
      state.dashboard.charts.set(q.name, new window.Chart(canvas, chartConfig(spec)));
    }
  }

  function firstSentence(text) {
    const end = text.indexOf(". ");
    return end > 0 ? text.slice(0, end + 1) : text;
  }

  function renderChecks(checks) {
    const failing = checks.checks.filter((c) => !c.ok);
    const summary = h("p", { class: failing.length ? "error-box" : "note" },
      failing.length ? `${failing.length} of ${checks.checks.length} checks found problems.` : `All ${checks.checks.length} checks pass (${ms(checks.elapsed_ms)}).`);
    const rows = checks.checks.map((c) => c);
    const list = table([
      { label: "Check", value: (c) => h("span", { title: c.path }, c.title) },
      { label: "Result", value: (c) => h("span", { class: `badge ${c.ok ? "ok" : "fail"}`, dataset: { check: c.name } }, c.ok ? "pass" : `${c.result.truncated ? "more than " : ""}${c.result.rows.length} rows`) },
      { label: "What it checks", value: (c) => h("span", {}, firstSentence(c.description), " ", h("code", {}, c.path)) },
    ], rows, { caption: "Data-quality checks", class: "checks" });
    const details = failing.map((c) => h("details", { open: true },
      h("summary", {}, `${c.title}: offending rows`), resultTable(c.result, c.title)));
    setChildren($("checks-body"), summary, list, details);
  }

  // ---------------------------------------------------------------- polling

  async function tick() {
    if (!document.hidden) {
      const lake = await refreshLake();
      try {
        if (state.view === "images") await loadList();
        else if (state.view === "detail" && !state.detail.settled) await loadDetail();
        else if (state.view === "dashboard" && lake && lake.cursor !== state.dashboard.cursor) await loadDashboard();
      } catch (err) {
        showBanner(err.message);
      }
    }
    setTimeout(tick, POLL_MS);
  }

  async function start() {
    setUpDropZone();
    setUpList();
    // The first page is shown, and navigation followed, before anything is awaited: a reader
    // who follows a link while the settings or the lake line load must get that page (and the
    // focus on its heading), not have a late first route() take the change for no change.
    window.addEventListener("hashchange", () => route(false));
    route(true);
    try {
      state.config = await getJson("/console/api/config");
      $("limits-hint").textContent = uploadLimitText();
    } catch (err) {
      showBanner(`Cannot read the server's settings: ${err.message}`);
    }
    await refreshLake();
    setTimeout(tick, POLL_MS);
  }

  start();
})();
