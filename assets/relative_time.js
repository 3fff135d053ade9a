/* Keeps "5 min ago" true: every element with data-relative-time="<ISO time>" gets its text
   recomputed every 20 s, also on pages that no longer poll the server (a finished job's monitor).
   The wording mirrors components/formatters.py:format_relative_time
   (tests/browser/test_monitor.py::test_mon012 runs it with the clock an hour ahead). */
(function () {
  "use strict";

  const UNITS = [
    [3600, "min", 60],
    [86400, "h", 3600],
    [Infinity, "day", 86400],
  ];

  function relativeText(at, now) {
    let delta = (now - at) / 1000;
    const future = delta < 0;
    delta = Math.abs(delta);
    if (delta < 45) {
      return "just now";
    }
    for (const [limit, unit, size] of UNITS) {
      if (delta < limit) {
        // Python's round() rounds halves to even; Math.round rounds them up: equal except at
        // exact halves, which a clock in milliseconds practically never hits.
        const count = Math.round(delta / size);
        const label = unit === "day" && count !== 1 ? "days" : unit;
        return future ? "in " + count + " " + label : count + " " + label + " ago";
      }
    }
    return "—";
  }

  function refresh(now) {
    const clock = now === undefined ? Date.now() : now;
    for (const el of document.querySelectorAll("[data-relative-time]")) {
      const at = Date.parse(el.getAttribute("data-relative-time"));
      if (!Number.isNaN(at)) {
        const text = relativeText(at, clock);
        if (el.textContent !== text) {
          el.textContent = text;
        }
      }
    }
  }

  window.pipelineRelativeTime = { refresh: refresh, text: relativeText };
  window.setInterval(refresh, 20000);
})();
