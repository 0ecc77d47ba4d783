// TicketFlower progressive enhancement. Every page works without this file;
// it only adds live updates to the instance and ticket views.
(function () {
  "use strict";
  var live = document.querySelector("[data-live-url]");
  if (!live || !window.EventSource) { return; }
  var dot = document.querySelector(".live-dot");
  var source = new EventSource(live.getAttribute("data-live-url"));
  var current = live.getAttribute("data-revision");
  source.addEventListener("open", function () { if (dot) { dot.classList.add("on"); } });
  source.addEventListener("error", function () { if (dot) { dot.classList.remove("on"); } });
  source.addEventListener("state", function (event) {
    var state;
    try { state = JSON.parse(event.data); } catch (e) { return; }
    if (String(state.revision) === current) { return; }
    current = String(state.revision);
    // Refresh the live regions from the server-rendered page (no markup is built here).
    fetch(window.location.href, { credentials: "same-origin" }).then(function (response) {
      return response.text();
    }).then(function (html) {
      var next = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live-region]").forEach(function (region) {
        var name = region.getAttribute("data-live-region");
        var replacement = next.querySelector('[data-live-region="' + name + '"]');
        if (replacement) { region.replaceWith(replacement); }
      });
    });
  });
})();
