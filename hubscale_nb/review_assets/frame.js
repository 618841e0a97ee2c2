// One notebook's diff, drawn by nbdime's own web app inside a sandboxed frame.
// nbdime's app asks its server for the diff (POST api/diff) and writes its URL into the history;
// here the diff is already in the page, so both are answered in place. The app's code comes
// from the review page (it holds one copy for every frame).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("review-data").textContent);
  const answer = JSON.stringify({ base: data.base, diff: data.diff });
  window.fetch = () =>
    Promise.resolve(
      new Response(answer, { status: 200, headers: { "Content-Type": "application/json" } }),
    );
  history.pushState = history.replaceState = () => {};
  // The frame is sandboxed (an opaque origin): no cookies to read, and its origin is "null",
  // so nbdime asks "null/api/diff"; the page's <base> (a URN: nothing resolves against it) keeps JupyterLab's base URL
  // "null/" as written, so the app's "is this my server?" check passes.
  Object.defineProperty(document, "cookie", { get: () => "", set: () => {} });
  const NativeRequest = window.Request;
  window.Request = function (url, init) {
    return new NativeRequest(new URL(String(url), "https://review.invalid/"), init);
  };

  function post(message) {
    parent.postMessage(message, "*");
  }

  // nbdime renders a markdown cell only when it is unchanged; a changed, added or removed one
  // gets its source diff, and here its rendered base and head below it.
  function addMarkdown() {
    const cells = document.querySelectorAll("#nbdime-root .jp-Cell-diff");
    if (cells.length < data.rows) return false;
    for (const block of data.markdown) {
      const box = document.createElement("div");
      const sides = ["base", "head"].filter((side) => block[side] !== null);
      box.className = "review-markdown" + (sides.length === 1 ? " one-side" : "");
      for (const side of sides) {
        const pane = document.createElement("div");
        pane.className = "review-markdown-" + side + " jp-RenderedHTMLCommon jp-RenderedMarkdown";
        pane.innerHTML = block[side]; // rendered and cleaned by the server (bleach)
        box.appendChild(pane);
      }
      cells[block.row].appendChild(box);
    }
    return true;
  }

  // Say so in the frame when the app fails, rather than leave it blank.
  function failed(message) {
    const note = document.createElement("pre");
    note.className = "review-error";
    note.textContent = "nbdime could not draw this diff: " + message;
    document.body.appendChild(note);
    document.body.dataset.rendered = "error";
  }
  window.addEventListener("unhandledrejection", (event) => failed(String(event.reason)));
  window.addEventListener("error", (event) =>
    failed(String(event.message) + (event.error && event.error.stack ? "\n" + event.error.stack : "")),
  );

  // A failed run's cell (0-based among the head's cells), outlined once nbdime has drawn it.
  let failure = null;
  function markFailure() {
    const cells = document.querySelectorAll("#nbdime-root .jp-Cell-diff");
    const cell = failure && cells[data.headRows[failure.cell]];
    if (!cell || cell.classList.contains("review-failed")) return;
    document.querySelectorAll(".review-failed").forEach((e) => e.classList.remove("review-failed"));
    document.querySelectorAll(".review-failed-note").forEach((e) => e.remove());
    cell.classList.add("review-failed");
    const note = document.createElement("div");
    note.className = "review-failed-note";
    note.textContent = "Failed here on head: " + failure.text;
    cell.prepend(note);
  }

  let marked = false;
  new MutationObserver(() => {
    if (!marked) marked = addMarkdown();
    if (marked) markFailure();
    if (marked && document.querySelector(".jp-Notebook-diff")) {
      document.body.dataset.rendered = "true";
    }
  }).observe(document.body, { childList: true, subtree: true });
  new ResizeObserver(() => post({ height: document.documentElement.scrollHeight })).observe(
    document.body,
  );

  window.addEventListener("message", (event) => {
    if (event.source !== parent) return;
    if (event.data.failure) {
      failure = event.data.failure;
      if (marked) markFailure();
    }
    if (typeof event.data.bundle !== "string") return;
    const script = document.createElement("script");
    script.textContent = event.data.bundle;
    document.head.appendChild(script);
    document.querySelector("base").href = "urn:hubscale-review";
    const start = window.onload; // nbdime starts on load, which has passed by now
    window.onload = null;
    if (start) start();
  });
  post({ ready: true });
})();
