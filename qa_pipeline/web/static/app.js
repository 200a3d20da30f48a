// Call page: click a finding, a transcript line or a tone bar to seek the audio there;
// switch channels (both / agent / caller) keeping the position; follow playback in the transcript.
(function () {
  "use strict";
  var player = document.getElementById("player");
  if (!player) return;

  function seek(t) {
    if (!isFinite(t)) return;
    var go = function () {
      player.currentTime = t;
      var p = player.play();
      if (p && p.catch) p.catch(function () {});
    };
    if (player.readyState >= 1) go();
    else player.addEventListener("loadedmetadata", go, { once: true });
  }

  document.addEventListener("click", function (ev) {
    var target = ev.target;
    if (target.closest("input, label, select, textarea, a, form")) return;
    var el = target.closest("[data-seek]");
    if (!el) return;
    seek(parseFloat(el.getAttribute("data-seek")));
  });

  document.querySelectorAll(".channels button").forEach(function (btn) {
    btn.addEventListener("click", function () {
      var at = player.currentTime, playing = !player.paused;
      var url = new URL(player.getAttribute("src"), window.location.href);
      url.searchParams.set("channel", btn.getAttribute("data-channel"));
      player.src = url.pathname + url.search;
      player.addEventListener("loadedmetadata", function () {
        player.currentTime = at;
        if (playing) player.play().catch(function () {});
      }, { once: true });
      document.querySelectorAll(".channels button").forEach(function (b) { b.classList.toggle("on", b === btn); });
    });
  });

  var segs = Array.prototype.slice.call(document.querySelectorAll("li.seg"));
  var current = null;
  player.addEventListener("timeupdate", function () {
    var t = player.currentTime, hit = null;
    for (var i = 0; i < segs.length; i++) {
      var s = parseFloat(segs[i].getAttribute("data-seek")), e = parseFloat(segs[i].getAttribute("data-end"));
      if (t >= s && t < e) { hit = segs[i]; break; }
    }
    if (hit !== current) {
      if (current) current.classList.remove("playing");
      if (hit) hit.classList.add("playing");
      current = hit;
    }
  });

  // Links from search results: /calls/ID#t=SECONDS
  var m = /^#t=([0-9.]+)$/.exec(window.location.hash);
  if (m) {
    player.addEventListener("loadedmetadata", function () { player.currentTime = parseFloat(m[1]); }, { once: true });
  }
})();

// Call page, reviewing from the keyboard: j/k (or the arrows) move between findings, c confirms, r rejects and
// puts the cursor in "why rejected?" (Enter or Esc goes back), Space or p plays and pauses, s resolves, ? shows
// the shortcuts. Resolving with findings left undecided asks first. Keys typed into a field are the field's.
(function () {
  "use strict";
  var player = document.getElementById("player");
  var items = Array.prototype.slice.call(document.querySelectorAll("ol.findings li.finding"));
  var form = document.getElementById("review-form");
  var help = document.getElementById("shortcut-help");
  var warning = document.getElementById("undecided-warning");
  var marks = Array.prototype.slice.call(document.querySelectorAll("#findings-timeline rect.mark"));
  var at = -1, undecidedOk = false;
  document.body.classList.add("js");

  function select(i) {
    if (!items.length) return;
    at = Math.max(0, Math.min(items.length - 1, i));
    items.forEach(function (li, n) { li.classList.toggle("selected", n === at); });
    marks.forEach(function (m) { m.classList.toggle("selected", m.getAttribute("data-key") === items[at].getAttribute("data-key")); });
    items[at].focus({ preventScroll: true });
    items[at].scrollIntoView({ block: "nearest" });
    var t = parseFloat(items[at].getAttribute("data-seek"));
    if (player && isFinite(t)) {
      if (player.readyState >= 1) player.currentTime = t;
      else player.addEventListener("loadedmetadata", function () { player.currentTime = t; }, { once: true });
    }
  }

  function radio(li, value) { return li.querySelector("input[type=radio][value=" + value + "]"); }

  function decide(value) {
    if (at < 0) select(0);
    var li = items[at], input = li && radio(li, value);
    if (!input || input.disabled) return;
    input.checked = true;
    li.classList.toggle("rejected", value === "reject");
    var why = li.querySelector(".reject-reason");
    if (value === "reject" && why) why.focus();
  }

  function undecided() {
    return items.filter(function (li) {
      var c = radio(li, "confirm"), r = radio(li, "reject");
      return c && !c.disabled && !c.checked && !r.checked;
    });
  }

  function toggleHelp(show) {
    if (!help) return;
    help.hidden = show === undefined ? !help.hidden : !show;
  }

  items.forEach(function (li, n) {
    li.addEventListener("change", function (ev) {
      if (ev.target.type === "radio") li.classList.toggle("rejected", ev.target.value === "reject");
    });
    li.addEventListener("click", function () { at = n; items.forEach(function (o) { o.classList.toggle("selected", o === li); }); });
  });
  marks.forEach(function (m) {
    m.addEventListener("click", function () { select(parseInt(m.getAttribute("data-n"), 10)); });
  });
  var shortcuts = document.getElementById("show-shortcuts");
  if (shortcuts) shortcuts.addEventListener("click", function () { toggleHelp(); });

  document.querySelectorAll(".reject-reason").forEach(function (input) {
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === "Escape") {  // back to the findings, not a submitted form
        ev.preventDefault();
        ev.stopPropagation();
        var li = input.closest("li.finding");
        if (li) li.focus({ preventScroll: true });
      }
    });
  });

  if (form && warning) {
    form.addEventListener("submit", function (ev) {
      var left = undecided();
      if (!left.length || undecidedOk) return;
      ev.preventDefault();
      document.getElementById("undecided-count").textContent = String(left.length);
      warning.hidden = false;
      document.getElementById("resolve-anyway").focus();
    });
    document.getElementById("resolve-anyway").addEventListener("click", function () {
      undecidedOk = true;
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
    });
    document.getElementById("back-to-undecided").addEventListener("click", function () {
      warning.hidden = true;
      var left = undecided();
      if (left.length) select(items.indexOf(left[0]));
    });
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.target.closest && ev.target.closest("input, textarea, select")) return;
    var key = ev.key;
    if (key === "Escape") { toggleHelp(false); if (warning) warning.hidden = true; return; }
    if (key === "?") { toggleHelp(); ev.preventDefault(); return; }
    if (ev.target.closest && ev.target.closest("button, a") && (key === "Enter" || key === " ")) return;
    if (key === "j" || key === "ArrowDown") { select(at + 1); ev.preventDefault(); }
    else if (key === "k" || key === "ArrowUp") { select(at < 0 ? 0 : at - 1); ev.preventDefault(); }
    else if (key === "c") { decide("confirm"); ev.preventDefault(); }
    else if (key === "r") { decide("reject"); ev.preventDefault(); }
    else if ((key === " " || key === "p") && player) {
      ev.preventDefault();
      if (player.paused) { var p = player.play(); if (p && p.catch) p.catch(function () {}); } else player.pause();
    }
    else if (key === "s" && form) { ev.preventDefault(); if (form.requestSubmit) form.requestSubmit(); else form.submit(); }
  });
})();
