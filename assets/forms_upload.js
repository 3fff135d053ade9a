/* Datasets page: react to a chosen file before dcc.Upload has read it.
   - dcc.Upload silently drops a file over its max_size: say so instead, naming the limit.
   - Reading a large file in the browser takes a while before the callback (and its `running`
     progress bar) starts: show the progress bar from the moment the file is chosen.
   The limit comes from the page (data-max-bytes), which takes it from the server's settings. */
(function () {
  "use strict";

  function formatBytes(bytes) {
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return unit === 0 ? value + " B" : value.toFixed(1) + " " + units[unit];
  }

  function onFileChosen(event) {
    const target = event.target;
    if (!target || !target.closest || !target.closest("#datasets-upload")) {
      return;
    }
    const files = event.dataTransfer ? event.dataTransfer.files : target.files;
    if (!files || !files.length || !window.dash_clientside || !window.dash_clientside.set_props) {
      return;
    }
    const holder = document.getElementById("datasets-upload-limit");
    const limit = holder ? Number(holder.dataset.maxBytes) : 0;
    const file = files[0];
    if (limit && file.size > limit) {
      window.dash_clientside.set_props("datasets-upload-result", {
        children: {
          namespace: "dash_bootstrap_components",
          type: "Alert",
          props: {
            id: "upload-too-large",
            color: "danger",
            className: "mb-0",
            children:
              "“" + file.name + "” is " + formatBytes(file.size) + ", over this page's limit of " +
              formatBytes(limit) + ". Nothing was uploaded. Split the file, or upload it through the API.",
          },
        },
      });
      return;
    }
    window.dash_clientside.set_props("datasets-upload-progress", { className: "upload-progress mt-3" });
  }

  document.addEventListener("change", onFileChosen, true);
  document.addEventListener("drop", onFileChosen, true);
})();
