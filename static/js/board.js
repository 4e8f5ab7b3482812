// The board: drag and drop between columns (SortableJS, works with touch), a toast for the server's
// answer, and scroll positions kept across the live refreshes.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var dragging = false;
  var scrolls = {};

  function toast(level, text) {
    var el = document.getElementById("toast");
    el.textContent = text;
    el.className = "toast toast-" + level;
    el.hidden = false;
    clearTimeout(el._timer);
    el._timer = setTimeout(function () { el.hidden = true; }, level === "error" ? 6000 : 2500);
  }

  function setupSortable() {
    if (!window.Sortable) { return; }
    board.querySelectorAll(".cards[data-stage]").forEach(function (list) {
      if (list._sortable) { return; }
      list._sortable = Sortable.create(list, {
        group: "board",
        sort: false,
        draggable: ".card-job",
        filter: "[data-static], .card-advance",
        preventOnFilter: false,
        delay: 120,
        delayOnTouchOnly: true,
        animation: 120,
        onStart: function () { dragging = true; },
        onEnd: function (evt) {
          dragging = false;
          if (evt.to === evt.from) { return; }
          var values = {code: evt.item.dataset.code, to: evt.to.dataset.stage};
          new FormData(document.getElementById("board-filters")).forEach(function (v, k) { values[k] = v; });
          htmx.ajax("POST", board.dataset.moveUrl, {target: "#board", values: values});
        }
      });
    });
  }

  // Answers the server gives with a status other than 2xx that still carry the columns to show.
  htmx.config.responseHandling = [
    {code: "204", swap: false},
    {code: "[23]..", swap: true},
    {code: "409", swap: true, error: false},
    {code: "[45]..", swap: false, error: true}
  ];

  document.body.addEventListener("board-message", function (evt) {
    toast(evt.detail.level, evt.detail.text);
  });
  document.body.addEventListener("htmx:beforeRequest", function (evt) {
    // No refresh in the middle of a drag: the card would vanish from under the finger.
    if (dragging && evt.detail.elt === board) { evt.preventDefault(); }
  });
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.target !== board) { return; }
    scrolls = {board: board.scrollLeft};
    board.querySelectorAll(".cards[data-stage]").forEach(function (c) { scrolls[c.dataset.stage] = c.scrollTop; });
  });
  document.body.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target !== board) { return; }
    board.scrollLeft = scrolls.board || 0;
    board.querySelectorAll(".cards[data-stage]").forEach(function (c) {
      if (scrolls[c.dataset.stage]) { c.scrollTop = scrolls[c.dataset.stage]; }
    });
    setupSortable();
  });
  document.body.addEventListener("htmx:sendError", function () {
    toast("error", "The server cannot be reached; the board will catch up when it can.");
  });
  setupSortable();
})();
