// The data pages: an in-place edit that the server refuses (400, 404) answers the form with
// the reason; htmx swaps no error answer by default, so these are let through.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  const target = event.detail.target;
  const editing = target && target.querySelector && target.querySelector("[data-edit-form]");
  if (editing && status >= 400 && status < 500 && status !== 403) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
