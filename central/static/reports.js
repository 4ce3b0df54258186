// loyalty-edge reports: charts drawn from the same JSON the tables show, with the vendored uPlot (no CDN).
// Each chart gets a PNG download (its canvas) and a CSV of its own numbers; the tables stay readable without it.
(function () {
  "use strict";
  var COLORS = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037", "#ad1457", "#455a64"];

  function download(name, href) {
    var a = document.createElement("a");
    a.href = href;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  function csvOf(labels, series) {
    var head = ["label"].concat(series.map(function (s) { return s.name; }));
    var lines = [head];
    labels.forEach(function (label, i) {
      lines.push([label].concat(series.map(function (s) { return s.values[i] == null ? "" : s.values[i]; })));
    });
    return lines.map(function (line) {
      return line.map(function (v) { v = String(v); return /[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }).join(",");
    }).join("\n") + "\n";
  }

  // one chart: labels on x, one or more series; kind "lines" or "bars"
  function draw(box, labels, series, kind) {
    var width = Math.max(box.clientWidth || 0, 260);
    var bars = kind === "bars" && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({size: [0.8, 60]}) : null;
    var xs = labels.map(function (_, i) { return i; });
    var opts = {
      width: width,
      height: box.classList.contains("wide") ? 320 : 160,
      legend: {show: true, live: true},  // hover values
      scales: {x: {time: false}},
      axes: [
        {values: function (u, ticks) { return ticks.map(function (t) { return labels[t] !== undefined ? labels[t] : ""; }); },
         incrs: [1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365]},
        {size: 60}
      ],
      series: [{label: "x", value: function (u, v) { return v == null ? "" : labels[v]; }}].concat(series.map(function (s, i) {
        var color = COLORS[i % COLORS.length];
        return {label: s.name, stroke: color, fill: bars ? color + "99" : undefined, width: bars ? 0 : 2,
                paths: bars || undefined, points: {show: labels.length < 40}};
      }))
    };
    var data = [xs].concat(series.map(function (s) { return s.values.map(function (v) { return v == null ? null : Number(v); }); }));
    box.innerHTML = "";
    var plot = new uPlot(opts, data, box);
    box.setAttribute("data-points", String(labels.length));
    box.setAttribute("data-series", String(series.length));
    var tools = document.createElement("p");
    tools.className = "chart-tools";
    var png = document.createElement("button");
    png.type = "button";
    png.className = "link";
    png.textContent = "PNG";
    png.addEventListener("click", function () { download("chart.png", plot.ctx.canvas.toDataURL("image/png")); });
    var csv = document.createElement("button");
    csv.type = "button";
    csv.className = "link";
    csv.textContent = "CSV";
    csv.addEventListener("click", function () {
      download("chart.csv", URL.createObjectURL(new Blob([csvOf(labels, series)], {type: "text/csv"})));
    });
    tools.appendChild(png);
    tools.appendChild(document.createTextNode(" · "));
    tools.appendChild(csv);
    box.appendChild(tools);
    return plot;
  }

  function data(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.getAttribute("data-json")) : null;  // no inline scripts (CSP)
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof uPlot === "undefined") { return; }
    // the dashboard: one small chart per figure
    document.querySelectorAll("[data-chart]").forEach(function (box) {
      var board = data(box.getAttribute("data-chart"));
      var measure = box.getAttribute("data-measure");
      if (!board) { return; }
      draw(box, board.labels, [{name: measure, values: board.series[measure]}], box.getAttribute("data-kind"));
    });
    // a pivot drawn: rows are the time buckets, each column key a series (or the row totals)
    document.querySelectorAll("[data-pivot-chart]").forEach(function (box) {
      var table = data(box.getAttribute("data-pivot-chart"));
      if (!table) { return; }
      var labels = table.body.map(function (line) { return line.key.join(" / "); });
      var series;
      if (table.column_keys.length) {
        series = table.column_keys.map(function (key, c) {
          return {name: key.join(" / "), values: table.body.map(function (line) { return line.cells[c][0]; })};
        });
      } else {
        series = [{name: table.measures[0], values: table.body.map(function (line) { return line.total[0]; })}];
      }
      draw(box, labels, series, box.getAttribute("data-kind"));
    });
    // ready-made series: {labels, series: [{name, values}]} (the program's effect)
    document.querySelectorAll("[data-series-chart]").forEach(function (box) {
      var spec = data(box.getAttribute("data-series-chart"));
      if (spec) { draw(box, spec.labels, spec.series, box.getAttribute("data-kind")); }
    });
    // a preset period clears the custom dates (and choosing a date switches to custom)
    var period = document.getElementById("period");
    if (period) {
      period.addEventListener("change", function () {
        if (period.value !== "custom") {
          ["from", "to"].forEach(function (id) { var f = document.getElementById(id); if (f) { f.value = ""; } });
        }
      });
      ["from", "to"].forEach(function (id) {
        var f = document.getElementById(id);
        if (f) { f.addEventListener("change", function () { period.value = "custom"; }); }
      });
    }
  });
})();
