// Every page: a request the server refuses is never silent.
//
// htmx swaps nothing for a 4xx or 5xx answer by default, so a refused input (a NUL
// character in a field, answered 400 naming it) or a busy server (503) would leave
// the page looking as if nothing happened. Show the server's reason instead, as text.
(function () {
  "use strict";
  const MAX_SHOWN = 300;

  function banner() {
    let el = document.getElementById("request-error");
    if (!el) {
      el = document.createElement("p");
      el.id = "request-error";
      el.className = "error request-error";
      el.setAttribute("role", "alert");
      el.dataset.testid = "request-error";
      const main = document.querySelector("main") || document.body;
      main.prepend(el);
    }
    return el;
  }

  function show(text) {
    const el = banner();
    el.textContent = text.length > MAX_SHOWN ? text.slice(0, MAX_SHOWN) + "…" : text;
    el.hidden = false;
  }

  function plainReason(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    const body = (xhr.responseText || "").trim();
    if (type.startsWith("text/plain") && body) return body;
    return xhr.statusText || "the server refused the request";
  }

  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    show(`Not done (${xhr.status}): ${plainReason(xhr)}`);
  });
  document.addEventListener("htmx:sendError", () => {
    show("Not done: the server could not be reached. Check the connection and try again.");
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const el = document.getElementById("request-error");
    if (el && event.detail.successful) el.hidden = true;
  });
})();
