// The inbox's only script: deadline countdowns and keyboard shortcuts.
// It reads data attributes the server wrote; it never inserts HTML.
"use strict";
(function () {
  function left(ms) {
    if (ms <= 0) return "overdue";
    var s = Math.floor(ms / 1000), d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600),
        m = Math.floor(s % 3600 / 60), r = s % 60;
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + m + "m";
    return m + "m " + (r < 10 ? "0" : "") + r + "s";
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("time.countdown").forEach(function (t) {
      var ms = Number(t.dataset.deadline) - now;
      t.textContent = left(ms);
      t.classList.toggle("overdue", ms <= 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    var rows = Array.prototype.slice.call(document.querySelectorAll("#queue tbody tr"));
    var at = rows.length ? 0 : -1;
    function select(i) {
      if (at >= 0) rows[at].classList.remove("selected");
      at = Math.max(0, Math.min(rows.length - 1, i));
      if (at >= 0) { rows[at].classList.add("selected"); rows[at].scrollIntoView({ block: "nearest" }); }
    }
    if (at === 0) select(0);
    rows.forEach(function (r, i) {
      r.addEventListener("click", function () { window.location.href = r.dataset.href; });
    });
    document.addEventListener("keydown", function (e) {
      var typing = /^(TEXTAREA|INPUT)$/.test(document.activeElement.tagName);
      if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "j") select(at + 1);
      else if (e.key === "k") select(at - 1);
      else if (e.key === "Enter" && at >= 0) window.location.href = rows[at].dataset.href;
      else if (e.key === "r" && document.getElementById("reason")) { e.preventDefault(); document.getElementById("reason").focus(); }
    });
  });
})();
