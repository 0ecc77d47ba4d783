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

// The assistant: a message form with `data-stream` posts in the background and
// shows the answer as it arrives (server-sent events), then loads the stored
// conversation. Without this script the same form posts and redirects.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-stream]");
  if (!forms.length || !window.fetch || !window.TextDecoder || !window.FormData || !window.ReadableStream) { return; }
  var busy = false;

  function setDisabled(disabled) {
    document.querySelectorAll("form[data-stream] button, form[data-stream] textarea").forEach(function (element) {
      element.disabled = disabled;
    });
  }

  function showFailure(form, message) {
    var target = document.querySelector("form.composer") || form;
    var alert = target.querySelector(".alert-error");
    if (!alert) {
      alert = document.createElement("div");
      alert.className = "alert alert-error";
      alert.setAttribute("role", "alert");
      target.insertBefore(alert, target.firstChild.nextSibling);
    }
    alert.textContent = message;
  }

  function go(url) {
    var next = new URL(url, window.location.href);
    if (next.pathname === window.location.pathname) {
      window.location.hash = next.hash;
      window.location.reload();
    } else {
      window.location.assign(next.href);
    }
  }

  forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }
      var body = new FormData(form);
      var text = String(body.get("text") || "").trim();
      if (!text) { return; }
      busy = true;
      var chat = document.getElementById("chat");
      var bubble = document.querySelector(".bubble.streaming");
      var said = bubble ? bubble.querySelector(".said") : null;
      var status = document.querySelector(".stream-status");
      if (chat) {
        var mine = document.createElement("div");
        mine.className = "bubble from-user";
        var who = document.createElement("div");
        who.className = "who";
        who.textContent = "You";
        var words = document.createElement("div");
        words.className = "said";
        words.textContent = text;
        mine.appendChild(who);
        mine.appendChild(words);
        chat.insertBefore(mine, bubble);
      }
      if (bubble) { bubble.hidden = false; bubble.scrollIntoView({ block: "end" }); }
      if (status) { status.textContent = "The assistant is working…"; }
      setDisabled(true);

      function handle(block) {
        var name = "message";
        var data = [];
        block.split("\n").forEach(function (line) {
          if (line.indexOf("event:") === 0) { name = line.slice(6).trim(); }
          else if (line.indexOf("data:") === 0) { data.push(line.slice(5).replace(/^ /, "")); }
        });
        var value = data.join("\n");
        if (name === "text" && said) {
          try { said.textContent += JSON.parse(value); } catch (e) { said.textContent += value; }
        } else if (name === "working" && status) {
          try { status.textContent = JSON.parse(value) + "…"; } catch (e) { status.textContent = value; }
        } else if (name === "done") {
          go(value);
        } else if (name === "failed") {
          busy = false;
          setDisabled(false);
          if (status) { status.textContent = ""; }
          if (bubble) { bubble.hidden = true; if (said) { said.textContent = ""; } }
          showFailure(form, value);
        }
      }

      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "text/event-stream" }
      }).then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (!response.ok || !response.body || type.indexOf("text/event-stream") !== 0) {
          // Whatever the server says (a form with errors, a login page), show it as a page.
          return response.text().then(function (html) {
            document.open();
            document.write(html);
            document.close();
          });
        }
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { if (buffer.trim()) { handle(buffer); } return; }
            buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n/g, "\n");
            var parts = buffer.split("\n\n");
            buffer = parts.pop();
            parts.forEach(handle);
            return pump();
          });
        }
        return pump();
      }).catch(function () {
        busy = false;
        setDisabled(false);
        if (status) { status.textContent = ""; }
        showFailure(form, "The connection broke. Reload the page to see whether the answer arrived.");
      });
    });
  });
})();
