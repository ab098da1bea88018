// Helpline technician UI: keyboard moves through lists. Every page works without this file.
(function () {
  "use strict";
  function typing(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (event.key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    var table = document.querySelector("table[data-nav]");
    if (!table) { return; }
    var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    if (rows.length === 0) { return; }
    var current = table.querySelector("tbody tr.current");
    var index = current ? rows.indexOf(current) : -1;
    if (event.key === "j" || event.key === "k") {
      index = event.key === "j" ? Math.min(index + 1, rows.length - 1) : Math.max(index - 1, 0);
      if (current) { current.classList.remove("current"); }
      rows[index].classList.add("current");
      rows[index].scrollIntoView({ block: "nearest" });
      event.preventDefault();
    } else if (event.key === "Enter" && current) {
      var href = current.getAttribute("data-href");
      var link = href ? null : current.querySelector("a[href]");
      if (href && href.charAt(0) === "/") { window.location.assign(href); }
      else if (link) { link.click(); }
    }
  });
})();
