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
