// Hoster's console: what JavaScript adds to pages that work without it. Live parts refresh
// from the page's own URL, the log view follows the logs stream, the compose editor keeps its
// line numbers and jumps to a problem's line.
"use strict";

(function () {
  // Elements marked data-live are replaced by their newer copies every few seconds.
  var live = document.querySelectorAll("[data-live][id]");
  if (live.length) {
    var refresh = function () {
      if (document.hidden) return;
      fetch(location.pathname + location.search, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (!html) return;
          var next = new DOMParser().parseFromString(html, "text/html");
          live.forEach(function (el) {
            var fresh = next.getElementById(el.id);
            if (fresh && fresh.innerHTML !== el.innerHTML) el.innerHTML = fresh.innerHTML;
          });
        })
        .catch(function () {});
    };
    setInterval(refresh, 2000);
  }

  // The log view: new lines from the logs stream, after the last line the page showed.
  var logs = document.getElementById("logs");
  if (logs && window.EventSource) {
    var since = logs.dataset.since;
    var follow = function () {
      var url = logs.dataset.follow + (since ? "?since=" + encodeURIComponent(since) : "");
      var source = new EventSource(url);
      source.addEventListener("log", function (e) {
        var line;
        try { line = JSON.parse(e.data); } catch (_) { return; }
        if (since && line.time <= since) return;
        since = line.time;
        var atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
        logs.appendChild(document.createTextNode(line.service + " | " + line.line + "\n"));
        if (atEnd) logs.scrollTop = logs.scrollHeight;
      });
      // The stream ends when the containers stop; look again a little later.
      source.onerror = function () { source.close(); setTimeout(follow, 3000); };
    };
    follow();
    logs.scrollTop = logs.scrollHeight;
  }

  // The compose editor: line numbers that follow the text and its scrolling.
  document.querySelectorAll("textarea[data-lines]").forEach(function (area) {
    var gutter = area.parentElement.querySelector(".gutter");
    if (!gutter) return;
    var bad = {};
    gutter.querySelectorAll("span.bad").forEach(function (s) { bad[s.textContent] = true; });
    var draw = function () {
      var n = area.value.split("\n").length;
      if (gutter.childElementCount === n) return;
      gutter.textContent = "";
      for (var i = 1; i <= n; i++) {
        var s = document.createElement("span");
        s.textContent = i;
        if (bad[i]) s.className = "bad";
        gutter.appendChild(s);
      }
    };
    area.addEventListener("input", draw);
    area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
    draw();
  });

  // "compose line N" links select that line in the editor.
  document.querySelectorAll("a[data-line]").forEach(function (a) {
    a.addEventListener("click", function (e) {
      var area = document.getElementById("compose");
      if (!area) return;
      e.preventDefault();
      var lines = area.value.split("\n");
      var n = Math.max(1, Math.min(lines.length, parseInt(a.dataset.line, 10)));
      var start = lines.slice(0, n - 1).join("\n").length + (n > 1 ? 1 : 0);
      area.focus();
      area.setSelectionRange(start, start + lines[n - 1].length);
      var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
      area.scrollTop = Math.max(0, (n - 3) * lineHeight);
    });
  });

  // The first problem of a refused form gets the focus, so it is read out first.
  var problems = document.getElementById("problems");
  if (problems) problems.focus();
})();
