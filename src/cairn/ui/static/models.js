// The model pages: a refused alias move (400/404/409) comes back as the aliases fragment with
// its message; let htmx swap it in instead of dropping it as an error.
(function () {
  "use strict";
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("X-Cairn-Fragment")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
