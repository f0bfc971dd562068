// The voice operations page's charts: calls per hour (with the answered ones) and the
// outcome mix, drawn with ECharts from the page's json_script blob. The same numbers are
// in the tables beside them, which is all a browser without JavaScript shows.
(function () {
  "use strict";

  function options(kind, data) {
    if (kind === "outcomes") {
      return {
        animation: false,
        aria: { enabled: true },
        tooltip: { trigger: "item" },
        grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", inverse: true,
                 data: data.outcomes.map(function (o) { return o.name; }) },
        series: [{ type: "bar", data: data.outcomes.map(function (o) { return o.value; }),
                   itemStyle: { color: "#0b57d0" }, label: { show: true, position: "right" } }]
      };
    }
    return {
      animation: false,
      aria: { enabled: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { top: 0, type: "scroll" },
      grid: { left: 8, right: 12, top: 40, bottom: 28, containLabel: true },
      xAxis: { type: "category", name: data.labels.hour, nameLocation: "middle", nameGap: 24,
               data: data.hours },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { name: data.labels.calls, type: "bar", data: data.calls, itemStyle: { color: "#9e9e9e" } },
        { name: data.labels.answered, type: "bar", data: data.answered, barGap: "-100%",
          itemStyle: { color: "#1e7b34" } }
      ]
    };
  }

  function draw(box) {
    var source = document.getElementById(box.dataset.source);
    if (!source || typeof window.echarts === "undefined") {
      box.hidden = true;
      return;
    }
    var data = JSON.parse(source.textContent);
    var chart = window.echarts.init(box, null, { renderer: "canvas" });
    chart.setOption(options(box.dataset.chart, data));
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.querySelectorAll("[data-chart]").forEach(draw);
})();
