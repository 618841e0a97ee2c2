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
  window.addEventListener("message", (event) => {
    const frame = frameOf(event.source);
    if (!frame || typeof event.data !== "object") return;
    if (event.data.ready) {
      if (bundle === null) {
        bundle = JSON.parse(document.getElementById("nbdime-bundle").textContent);
      }
      event.source.postMessage({ bundle }, "*");
    }
    if (typeof event.data.height === "number") {
      frame.style.height = Math.ceil(event.data.height) + 2 + "px";
    }
  });
})();
