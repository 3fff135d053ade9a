/* Job monitor: the marker checklist shows or hides the lifecycle markers in the browser, with no
   request to the server (components/chart_markers.py draws one trace per kind). */
(function () {
  "use strict";

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.monitor = {
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
