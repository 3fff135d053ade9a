/* Job monitor: turn a packed tick (components/packed_patch.py) back into figure patches.
   The server sends each distinct value once ({v: [...], p: {loss: [[code, index, location]...]}});
   this rebuilds one dash_clientside.Patch per figure with the same operations, in the same order,
   so Dash patches the figures exactly as a server-side Patch would (zoom and uirevision kept). */
(function () {
  "use strict";

  const METHODS = { A: "assign", E: "extend", M: "merge" };

  function figurePatch(packed, name) {
    const dc = window.dash_clientside;
    const ops = packed.p[name];
    if (!ops) {
      return dc.no_update;
    }
    const patch = new dc.Patch();
    for (const [code, index, location] of ops) {
      const method = METHODS[code];
      if (!method) {
        throw new Error("monitor: unknown packed patch operation " + code);
      }
      patch[method](location, packed.v[index]);
    }
    return patch.build();
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.monitor = {
    /* Outputs: the loss figure, the panels figure (no_update for a figure the tick left alone). */
    applyChartPatch: function (packed) {
      const dc = window.dash_clientside;
      if (!packed || !packed.p) {
        return [dc.no_update, dc.no_update];
      }
      return [figurePatch(packed, "loss"), figurePatch(packed, "panels")];
    },
    /* The marker checklist: show the ticked kinds' traces ({"marker_<kind>": index}), hide the rest. */
    showMarkers: function (kinds, traces) {
      const dc = window.dash_clientside;
      if (!traces) {
        return dc.no_update;
      }
      const shown = new Set(kinds || []);
      const patch = new dc.Patch();
      for (const [key, index] of Object.entries(traces)) {
        patch.assign(["data", index, "visible"], shown.has(key.slice("marker_".length)));
      }
      return patch.build();
    },
  };
})();
