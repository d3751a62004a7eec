/* The runs table: select runs (all on the page at once), compare the selected ones, and send
   the column chooser's ticks as one `columns` parameter. */
(function () {
  "use strict";
  var form = document.getElementById("runs-form");
  if (form) {
    var boxes = function () {
      return Array.prototype.slice.call(form.querySelectorAll("input[name=runs]"));
    };
    var chosen = function () {
      return boxes().filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    };
    var update = function () {
      var n = chosen().length;
      var compare = document.getElementById("compare-selected");
      if (compare) compare.disabled = n < 2;
      ["delete-selected", "restore-selected"].forEach(function (id) {
        var button = document.getElementById(id);
        if (button) button.disabled = n < 1;
      });
      var count = document.getElementById("selected-count");
      if (count) count.textContent = n ? n + " selected" : "";
      var all = document.getElementById("select-all");
      if (all) {
        var total = boxes().length;
        all.checked = total > 0 && n === total;
        all.indeterminate = n > 0 && n < total;
      }
    };
    form.addEventListener("change", function (event) {
      if (event.target && event.target.id === "select-all") {
        boxes().forEach(function (b) { b.checked = event.target.checked; });
      }
      update();
    });
    var compare = document.getElementById("compare-selected");
    if (compare) {
      compare.addEventListener("click", function () {
        var ids = chosen();
        if (ids.length >= 2) {
          window.location.href = "/compare?runs=" + ids.map(encodeURIComponent).join(",");
        }
      });
    }
    form.addEventListener("submit", function (event) {
      var action = event.submitter && event.submitter.getAttribute("formaction");
      if (action === "/runs/delete") {
        var n = chosen().length;
        if (!window.confirm("Delete " + n + " run(s)? They can be restored until `cairn gc`.")) {
          event.preventDefault();
        }
      }
    });
    update();
  }
  var columns = document.getElementById("columns-form");
  if (columns) {
    columns.addEventListener("submit", function () {
      var ticks = Array.prototype.slice.call(columns.querySelectorAll("input[name=col]"));
      columns.querySelector("input[name=columns]").value = ticks
        .filter(function (b) { return b.checked; })
        .map(function (b) { return b.value; })
        .join(",");
      ticks.forEach(function (b) { b.disabled = true; });
    });
  }
})();
