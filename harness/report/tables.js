// harness report: sort any table.grid by a click on its header, filter its rows with the box above it.
// Inlined once at the end of the page; no network, no globals.
(function () {
  "use strict";

  // A cell's sort key: its data-sort attribute when it has one ("" = missing), else its text.
  function sortKey(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    if (raw === "" || raw === "–") return null;
    var num = Number(raw);
    return isFinite(num) ? num : raw.toLowerCase();
  }

  // Missing values last whatever the direction; numbers before text.
  function compare(a, b, dir) {
    if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
    if (typeof a !== typeof b) return typeof a === "number" ? -1 : 1;
    return (a < b ? -1 : a > b ? 1 : 0) * dir;
  }

  function sortBy(table, column, header) {
    var body = table.tBodies[0];
    var dir = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.map.call(body.rows, function (row, i) {
      return {row: row, key: sortKey(row.cells[column] || row), index: i};
    });
    rows.sort(function (x, y) { return compare(x.key, y.key, dir) || x.index - y.index; });
    rows.forEach(function (r) { body.appendChild(r.row); });
  }

  function filter(table, text, counter) {
    var words = text.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      var haystack = row.textContent.toLowerCase();
      var keep = words.every(function (w) { return haystack.indexOf(w) >= 0; });
      row.hidden = !keep;
      if (keep) shown += 1;
    });
    if (counter) {
      var total = table.tBodies[0].rows.length;
      counter.textContent = (shown === total ? total : shown + " of " + total) + " row(s)";
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll(".table-block"), function (block) {
    var table = block.querySelector("table.grid");
    if (!table || !table.tHead || !table.tBodies.length) return;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, column) {
      var button = th.querySelector("button.sort");
      if (button) button.addEventListener("click", function () { sortBy(table, column, th); });
    });
    var input = block.querySelector("input.table-filter");
    var counter = block.querySelector(".table-count");
    if (input) input.addEventListener("input", function () { filter(table, input.value, counter); });
  });
})();
