// The review page: hands nbdime's app to each notebook's frame, sizes the frames to their
// content, and (in a notebook server) runs notebooks on demand.
(function () {
  "use strict";
  let bundle = null;
  function frameOf(source) {
    for (const frame of document.querySelectorAll("iframe.nbdime-frame")) {
      if (frame.contentWindow === source) return frame;
    }
    return null;
  }
  // Each frame runs its own copy of nbdime's app: a frame gets it only when it comes near the
  // window, so a review of many notebooks costs the browser what the reader looks at.
  function start(frame) {
    if (frame.dataset.started || !frame.dataset.ready) return;
    frame.dataset.started = "true";
    if (bundle === null) {
      bundle = JSON.parse(document.getElementById("nbdime-bundle").textContent);
    }
    frame.contentWindow.postMessage({ bundle }, "*");
    const section = frame.closest("section.notebook");
    if (section && section.dataset.failedCell) mark(section);
  }
  const near = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        entry.target.dataset.near = "true";
        start(entry.target);
      }
    },
    { rootMargin: "1000px 0px" },
  );
  window.addEventListener("message", (event) => {
    const frame = frameOf(event.source);
    if (!frame || typeof event.data !== "object") return;
    if (event.data.ready) {
      frame.dataset.ready = "true";
      if (frame.dataset.near) start(frame);
      else near.observe(frame);
    }
    if (typeof event.data.height === "number") {
      frame.style.height = Math.ceil(event.data.height) + 2 + "px";
    }
  });

  // Run a notebook on the head commit (the server caches results by the notebook's content).
  function describe(result) {
    let text = result.outcome + " in " + result.duration_s.toFixed(1) + " s";
    if (result.detail) text += ": " + result.detail;
    if (result.cached) text += " (cached)";
    return text;
  }
  // Outline the failing cell in the notebook's frame (cells counted 1-based, as reported).
  function mark(section) {
    const frame = section.querySelector("iframe.nbdime-frame");
    const line = section.querySelector(".result");
    if (!frame || !section.dataset.failedCell) return;
    const cell = Number(section.dataset.failedCell) - 1;
    frame.contentWindow.postMessage({ failure: { cell, text: line.textContent } }, "*");
  }
  async function run(section) {
    const config = JSON.parse(document.getElementById("review-config").textContent);
    const line = section.querySelector(".result");
    line.className = "result running";
    line.textContent = "running…";
    try {
      const response = await fetch(config.runUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-XSRFToken": config.xsrf },
        body: JSON.stringify({ repo: config.repo, commit: config.commit, path: section.dataset.path }),
      });
      if (!response.ok) throw new Error(response.status + " " + (await response.text()));
      const result = await response.json();
      line.className = "result " + result.outcome;
      line.textContent = describe(result);
      section.dataset.outcome = result.outcome;
      if (result.cell) {
        section.dataset.failedCell = result.cell;
        mark(section);
      }
    } catch (error) {
      line.className = "result failed";
      line.textContent = "could not run: " + error.message;
    }
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.run, button.run-all");
    if (!button) return;
    const sections = button.classList.contains("run-all")
      ? [...document.querySelectorAll("section.notebook")].filter((s) => s.querySelector("button.run"))
      : [button.closest("section.notebook")];
    sections.reduce((previous, section) => previous.then(() => run(section)), Promise.resolve());
  });
})();
