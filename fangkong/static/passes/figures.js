// The gate figures' chart: a stacked bar per hour (in, out, refused, fever), drawn with
// ECharts from the page's json_script blob. The same numbers are in the table below it,
// which is all a browser without JavaScript shows.
(function () {
  "use strict";
  var COLOURS = { in: "#2e7d32", out: "#1565c0", refused: "#9e9e9e", fever: "#c62828" };

  function draw(box) {
    var source = document.getElementById(box.dataset.source);
    if (!source || typeof window.echarts === "undefined") {
      box.hidden = true;
      return;
    }
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      aria: { enabled: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      // One line of legend, scrolled on a narrow phone, so it never covers the bars.
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 12, top: 40, bottom: 28, containLabel: true },
      xAxis: { type: "category", name: data.hour_label, nameLocation: "middle",
               nameGap: 24, data: data.hours },
      yAxis: { type: "value", minInterval: 1 },
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", stack: "passages", data: s.data,
                 itemStyle: { color: COLOURS[s.key] }, emphasis: { focus: "series" } };
      })
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.querySelectorAll("[data-source]").forEach(draw);
})();
