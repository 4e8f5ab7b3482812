// Sends the CSRF token with every HTMX request (forms carry it as a hidden field already).
document.addEventListener("htmx:configRequest", function (evt) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { evt.detail.headers["X-CSRFToken"] = meta.content; }
});
// A button with data-confirm asks first (no inline script: the page's CSP forbids it).
document.addEventListener("submit", function (evt) {
  var btn = evt.submitter;
  var msg = (btn && btn.dataset.confirm) || evt.target.dataset.confirm;
  if (msg && !window.confirm(msg)) { evt.preventDefault(); return; }
  // data-once: a button that spends money is pressed once (the server's purchase key is the real guard).
  if (btn && btn.hasAttribute("data-once")) {
    window.setTimeout(function () { btn.disabled = true; btn.textContent = "Buying…"; }, 0);
  }
});
// "+ Add item" on the order form: copies the last item row with the next index, blank.
document.addEventListener("click", function (evt) {
  var btn = evt.target.closest("[data-add-item]");
  if (!btn) { return; }
  var box = document.querySelector(btn.dataset.addItem);
  var rows = box.querySelectorAll(".item-row");
  var last = rows[rows.length - 1];
  var next = rows.length;
  var copy = last.cloneNode(true);
  copy.id = "item-row-" + next;
  copy.querySelector("legend").textContent = "Item " + (next + 1);
  copy.querySelectorAll("[name]").forEach(function (el) {
    el.name = el.name.replace(/^items-\d+-/, "items-" + next + "-");
    if (el.tagName === "INPUT") { el.value = ""; }
  });
  box.appendChild(copy);
  copy.querySelector("input").focus();
});
