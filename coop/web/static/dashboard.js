// The auditors' dashboard: reads /api/v1/audit/dashboard with the auditor's or coordinator's Bearer token and draws
// it with the vendored ECharts. Every text from the server goes in through textContent or ECharts (canvas), never
// as HTML; tooltips use the default formatter, which escapes names.
"use strict";

(function () {
  const KEY = "coop-audit-token";
  const $ = (id) => document.getElementById(id);
  const charts = {};
  let data = null;
  let overdueScope = null; // {department, month} the overdue table is narrowed to

  function token() {
    // `/audit#token=…`: taken once into this tab's storage and removed from the address bar and history.
    const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (match) {
      sessionStorage.setItem(KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    return sessionStorage.getItem(KEY);
  }

  function showError(text) {
    const box = $("error");
    box.textContent = text;
    box.hidden = !text;
  }

  async function getJson(path) {
    const response = await fetch(path, {
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
      cache: "no-store",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (response.status === 401 || response.status === 403) {
      // Not (or no longer) an auditor's or coordinator's token: ask again, keeping the explanation on screen.
      sessionStorage.removeItem(KEY);
      askToken();
    }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : "请求失败（HTTP " + response.status + "）";
      throw new Error(detail);
    }
    return body;
  }

  function askToken() {
    $("login").hidden = false;
    $("filters").hidden = true;
    $("content").hidden = true;
  }

  function pct(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  function rateValue(value) {
    return value === null || value === undefined ? null : Math.round(value * 1000) / 10;
  }

  function query() {
    const params = new URLSearchParams();
    const agreement = $("f-agreement").value.trim();
    const asOf = $("f-as-of").value;
    if (agreement) params.set("agreement", agreement);
    if (asOf) params.set("as_of", asOf);
    return params;
  }

  async function load() {
    if (!token()) {
      askToken();
      return;
    }
    $("login").hidden = true;
    $("filters").hidden = false;
    showError("");
    try {
      const params = query();
      params.set("limit", "20"); // the oldest 20 here; a department's or a month's full list on a click
      data = await getJson("/api/v1/audit/dashboard?" + params.toString());
    } catch (error) {
      showError(error.message);
      return;
    }
    $("content").hidden = false;
    render();
  }

  function chart(id) {
    if (!charts[id]) {
      charts[id] = echarts.init($(id), null, { renderer: "canvas" });
    }
    return charts[id];
  }

  function fitHeight(id, rows) {
    // Horizontal bars: room for every row's label, at least the card's own height.
    const el = $(id);
    const wanted = Math.max(window.innerWidth <= 720 ? 300 : 340, 60 + rows * 34);
    if (el.clientHeight !== wanted) el.style.height = wanted + "px";
  }

  function ratesChart(id, rows, label) {
    fitHeight(id, rows.length);
    const names = rows.map(label);
    const c = chart(id);
    c.resize();
    c.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v) => (v === null ? "—" : v + "%") },
        legend: { data: ["完成率", "按时率"], top: 0 },
        grid: { left: 8, right: 24, top: 32, bottom: 8, containLabel: true },
        xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
        yAxis: {
          type: "category",
          data: names,
          inverse: true,
          axisLabel: { width: window.innerWidth <= 720 ? 110 : 200, overflow: "truncate" },
        },
        series: [
          { name: "完成率", type: "bar", data: rows.map((r) => rateValue(r.completion_rate)), itemStyle: { color: "#2e7d32" } },
          { name: "按时率", type: "bar", data: rows.map((r) => rateValue(r.on_time_rate)), itemStyle: { color: "#1565c0" } },
        ],
      },
      true,
    );
    return c;
  }

  function heatChart() {
    const heat = data.heat;
    fitHeight("chart-heat", heat.departments.length);
    const c = chart("chart-heat");
    c.resize();
    c.setOption(
      {
        animation: false,
        tooltip: { position: "top" },
        grid: { left: 8, right: 16, top: 16, bottom: 56, containLabel: true },
        xAxis: { type: "category", data: heat.months, splitArea: { show: true } },
        yAxis: {
          type: "category",
          data: heat.departments,
          inverse: true,
          splitArea: { show: true },
          axisLabel: { width: window.innerWidth <= 720 ? 110 : 200, overflow: "truncate" },
        },
        visualMap: {
          min: 0,
          max: Math.max(1, heat.peak),
          calculable: true,
          orient: "horizontal",
          left: "center",
          bottom: 0,
          itemHeight: 120,
          inRange: { color: ["#e8f5e9", "#fff59d", "#ef6c00", "#b71c1c"] },
        },
        series: [
          {
            name: "逾期任务数",
            type: "heatmap",
            data: heat.cells,
            label: { show: true },
            emphasis: { itemStyle: { shadowBlur: 6, shadowColor: "rgba(0,0,0,.4)" } },
          },
        ],
      },
      true,
    );
    c.off("click");
    c.on("click", (params) => {
      const [m, d] = params.data;
      narrowOverdue({ department: heat.departments[d], month: heat.months[m] });
    });
  }

  function trendChart() {
    const rows = data.by_month;
    const c = chart("chart-trend");
    c.resize();
    c.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis" },
        legend: { data: ["应完成", "已完成", "逾期", "完成率", "按时率"], top: 0 },
        grid: { left: 8, right: 8, top: 56, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: rows.map((r) => r.group) },
        yAxis: [
          { type: "value", name: "任务数", minInterval: 1 },
          { type: "value", name: "比例", max: 100, axisLabel: { formatter: "{value}%" } },
        ],
        series: [
          { name: "应完成", type: "bar", data: rows.map((r) => r.expected), itemStyle: { color: "#90a4ae" } },
          { name: "已完成", type: "bar", data: rows.map((r) => r.done), itemStyle: { color: "#2e7d32" } },
          { name: "逾期", type: "bar", data: rows.map((r) => r.overdue), itemStyle: { color: "#c62828" } },
          { name: "完成率", type: "line", yAxisIndex: 1, connectNulls: true, data: rows.map((r) => rateValue(r.completion_rate)) },
          { name: "按时率", type: "line", yAxisIndex: 1, connectNulls: true, data: rows.map((r) => rateValue(r.on_time_rate)) },
        ],
      },
      true,
    );
  }

  function progressChart() {
    const rows = data.progress;
    fitHeight("chart-progress", rows.length);
    const c = chart("chart-progress");
    c.resize();
    const names = rows.map((r) => (r.level === "agreement" ? r.agreement_id : r.agreement_id + " " + r.scope_label) + " · " + r.label);
    c.setOption(
      {
        animation: false,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        grid: { left: 8, right: 40, top: 8, bottom: 8, containLabel: true },
        // At least to 100 %: a quarter of the target must not look like a full bar.
        xAxis: { type: "value", min: 0, max: (extent) => Math.max(100, Math.ceil(extent.max / 10) * 10), axisLabel: { formatter: "{value}%" } },
        yAxis: {
          type: "category",
          data: names,
          inverse: true,
          axisLabel: { width: window.innerWidth <= 720 ? 130 : 260, overflow: "truncate" },
        },
        series: [
          {
            name: "已报告 / 目标",
            type: "bar",
            data: rows.map((r) => ({
              value: rateValue(r.ratio),
              itemStyle: { color: r.level === "agreement" ? "#b71c1c" : "#ef6c00" },
            })),
            label: { show: true, position: "right", formatter: (p) => rows[p.dataIndex].reported + "/" + rows[p.dataIndex].target },
          },
        ],
      },
      true,
    );
  }

  function render() {
    const o = data.overall;
    $("as-of").textContent = "截至 " + data.as_of + " 日终（Asia/Shanghai）";
    $("kpi-completion").textContent = pct(o.completion_rate);
    $("kpi-on-time").textContent = pct(o.on_time_rate);
    $("kpi-overdue").textContent = String(data.overdue_count);
    $("kpi-expected").textContent = o.expected + " / " + o.total;
    const department = ratesChart("chart-department", data.by_department, (r) => r.group);
    onRow(department, data.by_department, (r) => narrowOverdue({ department: r.group }));
    const party = ratesChart("chart-party", data.by_party, (r) => r.group);
    onRow(party, data.by_party, (r) => narrowOverdue({ party: r.group }));
    ratesChart("chart-programme", data.by_programme, (r) => (r.title ? r.group + " " + r.title : r.group));
    heatChart();
    trendChart();
    progressChart();
    overdueScope = null;
    renderOverdue(data.overdue, data.overdue_count);
  }

  function onRow(c, rows, act) {
    // A tap anywhere on a group's row picks it: a 0 % bar has nothing to tap, and phone fingers are wide.
    const zr = c.getZr();
    zr.off("click");
    zr.on("click", (event) => {
      const point = [event.offsetX, event.offsetY];
      if (!c.containPixel({ gridIndex: 0 }, point)) return;
      const index = c.convertFromPixel({ seriesIndex: 0 }, point)[1];
      if (rows[index]) act(rows[index]);
    });
  }

  function monthEnd(month) {
    const [year, m] = month.split("-").map(Number);
    const last = new Date(Date.UTC(year, m, 0)).getUTCDate();
    return month + "-" + String(last).padStart(2, "0");
  }

  async function narrowOverdue(scope) {
    // The page holds only the oldest overdue tasks; a group's own list comes from the server, complete up to 500.
    const params = query();
    if (scope.department) params.set("department", scope.department);
    if (scope.party) params.set("party", scope.party);
    if (scope.month) {
      params.set("due_from", scope.month + "-01");
      params.set("due_to", monthEnd(scope.month));
    }
    params.set("limit", "500");
    let found;
    try {
      found = await getJson("/api/v1/audit/overdue?" + params.toString());
    } catch (error) {
      showError(error.message);
      return;
    }
    overdueScope = scope;
    renderOverdue(found.items, found.count);
    $("overdue").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  function renderOverdue(items, count) {
    const body = $("overdue").tBodies[0];
    body.replaceChildren();
    const scope = overdueScope
      ? [overdueScope.department, overdueScope.party, overdueScope.month].filter(Boolean).join(" · ")
      : "";
    $("overdue-scope").textContent = (scope ? scope + "：" : "") + "列出 " + items.length + " 项（共 " + count + " 项逾期）";
    $("overdue-all").hidden = !overdueScope;
    for (const item of items) {
      const row = body.insertRow();
      row.tabIndex = 0;
      row.dataset.occurrence = String(item.occurrence_id);
      const cells = [
        "#" + item.occurrence_id,
        item.party + "/" + item.department,
        item.due_date,
        String(item.days_overdue),
        item.agreement_id + " 第" + item.clause + "条 " + item.clause_title,
      ];
      for (const text of cells) row.insertCell().textContent = text;
      const open = () => showHistory(item.occurrence_id);
      row.addEventListener("click", open);
      row.addEventListener("keydown", (event) => {
        if (event.key === "Enter") open();
      });
    }
  }

  async function showHistory(id) {
    showError("");
    let told;
    try {
      const asOf = $("f-as-of").value;
      told = await getJson("/api/v1/audit/occurrences/" + encodeURIComponent(id) + "/narrative" + (asOf ? "?as_of=" + asOf : ""));
    } catch (error) {
      showError(error.message);
      return;
    }
    $("lookup-id").value = String(id);
    $("history-title").textContent =
      "任务 #" + told.occurrence_id + " · " + told.agreement_id + " 第" + told.clause + "条 " + told.clause_title;
    $("history-meta").textContent =
      "责任部门 " + told.party + "/" + told.department + " · 截止 " + told.due_date + " · 当前状态 " + told.status_label;
    const list = $("history-events");
    list.replaceChildren();
    for (const event of told.events) {
      const li = document.createElement("li");
      li.dataset.kind = event.kind;
      const sentence = document.createElement("div");
      sentence.className = "sentence";
      sentence.textContent = event.sentence;
      li.append(sentence);
      if (event.evidence.length) {
        const evidence = document.createElement("div");
        evidence.className = "evidence";
        evidence.textContent = "佐证：" + event.evidence.join("；");
        li.append(evidence);
      }
      const hash = document.createElement("div");
      hash.className = "hash";
      hash.hidden = !$("show-hash").checked;
      hash.textContent = "事件 #" + event.id + " 哈希 " + event.hash;
      li.append(hash);
      list.append(li);
    }
    $("history").hidden = false;
    $("history").scrollIntoView({ behavior: "smooth", block: "nearest" });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("token").value.trim());
      $("token").value = "";
      load();
    });
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    $("lookup").addEventListener("submit", (event) => {
      event.preventDefault();
      const id = parseInt($("lookup-id").value, 10);
      if (id > 0) showHistory(id);
    });
    $("overdue-all").addEventListener("click", () => {
      overdueScope = null;
      renderOverdue(data.overdue, data.overdue_count);
    });
    $("show-hash").addEventListener("change", () => {
      for (const el of document.querySelectorAll("#history-events .hash")) el.hidden = !$("show-hash").checked;
    });
    window.addEventListener("resize", () => {
      for (const c of Object.values(charts)) c.resize();
    });
    load();
  });
})();
