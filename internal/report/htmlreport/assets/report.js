// mirrorscope report page: charts (uPlot), sortable tables, live polling.
// Everything shown comes from JSON parsed here and is put in the page with
// textContent, never as HTML.
"use strict";
(function () {
  var status = document.getElementById("ms-status");
  var errors = window.__msErrors || [];

  function setStatus() {
    var drawn = 0, total = 0;
    var cs = document.querySelectorAll(".chart canvas");
    for (var i = 0; i < cs.length; i++) {
      total++;
      if (canvasDrawn(cs[i])) drawn++;
    }
    status.setAttribute("data-errors", String(errors.length));
    status.setAttribute("data-canvases", String(total));
    status.setAttribute("data-drawn", String(drawn));
    status.textContent = "charts " + drawn + "/" + total + " drawn; errors: " + (errors.length ? errors.join(" | ") : "none");
  }

  function canvasDrawn(c) {
    if (!c.width || !c.height) return false;
    try {
      var d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      for (var i = 3; i < d.length; i += 64) if (d[i] !== 0) return true;
    } catch (e) {
      errors.push("canvas: " + e.message);
    }
    return false;
  }

  // ---------- formatting ----------
  function fmtBps(v) {
    if (v == null) return "";
    if (v >= 1e9) return (v / 1e9).toFixed(2) + " Gbit/s";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + " Mbit/s";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + " kbit/s";
    return v.toFixed(0) + " bit/s";
  }
  function fmtBytes(v) {
    if (v == null) return "";
    // SI units (kB = 1000 B) and the digits of the text report
    // (internal/report.Bytes), so both read the same.
    if (v >= 1e9) return (v / 1e9).toFixed(2) + " GB";
    if (v >= 1e6) return (v / 1e6).toFixed(2) + " MB";
    if (v >= 1e3) return (v / 1e3).toFixed(1) + " kB";
    return v + " B";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = String(text);
    return e;
  }

  // ---------- sortable tables ----------
  function sortable(table) {
    var ths = table.querySelectorAll("th");
    ths.forEach(function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("data-dir") !== "asc";
        ths.forEach(function (h) { h.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", asc ? "asc" : "desc");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var num = th.getAttribute("data-type") === "num";
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v") || a.cells[col].textContent;
          var y = b.cells[col].getAttribute("data-v") || b.cells[col].textContent;
          var c = num ? (parseFloat(x) || 0) - (parseFloat(y) || 0) : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  // ---------- charts ----------
  var COL = {
    c2s: "#1f6fd1", s2c: "#8a8f98", ceil: "#d12a1f", retx: "#d12a1f", ooo: "#f0a000",
    lost: "#7b2cbf", seg: "#1f6fd1", ack: "#2a9d3a", win: "#9aa0a6", echo: "#f0a000",
    flight: "#1f6fd1", min: "#2a9d3a", queue: "#d12a1f", dup: "#8a8f98", zw: "#00838f", rst: "#000"
  };
  var FLAGCOL = [COL.retx, COL.ooo, COL.lost, COL.dup, COL.zw, COL.rst];

  function chartWidth(box) {
    return Math.max(320, (box.clientWidth || 900) - 4);
  }
  function nulls(a, cond) {
    return a.map(function (v) { return cond(v) ? null : v; });
  }
  function sum(a) {
    var s = 0;
    for (var i = 0; i < a.length; i++) s += a[i];
    return s;
  }
  // centred moving average over k bins
  function movingAvg(a, k) {
    var out = new Array(a.length), h = Math.floor(k / 2);
    var pre = [0];
    for (var i = 0; i < a.length; i++) pre.push(pre[i] + a[i]);
    for (var j = 0; j < a.length; j++) {
      var lo = Math.max(0, j - h), hi = Math.min(a.length, j - h + k);
      out[j] = (pre[hi] - pre[lo]) / (hi - lo);
    }
    return out;
  }
  function constant(x, v) {
    return x.map(function () { return v; });
  }
  function pointsOnly(color, size) {
    return { stroke: color, fill: color, width: 0, paths: function () { return null; }, points: { show: true, size: size || 4, stroke: color, fill: color } };
  }

  // one flow's charts, linked: a cursor sync key plus setScale hooks
  // that apply one chart's time zoom to the others.
  function flowCharts(box, fs, info, names) {
    var plots = [];
    var syncKey = "flow-" + fs.id + "-" + Math.random().toString(36).slice(2);
    var zooming = false;
    function opts(title, yLabel, series, extra) {
      var o = {
        title: title,
        width: chartWidth(box),
        height: 220,
        scales: { x: { time: false } },
        cursor: { sync: { key: syncKey }, drag: { x: true, y: false } },
        legend: { live: true },
        axes: [{ label: "seconds since flow start" }, { label: yLabel, size: 70 }],
        series: [{ label: "t (s)" }].concat(series),
        hooks: {
          setScale: [function (u, key) {
            if (key !== "x" || zooming) return;
            zooming = true;
            var mn = u.scales.x.min, mx = u.scales.x.max;
            plots.forEach(function (p) { if (p !== u) p.setScale("x", { min: mn, max: mx }); });
            zooming = false;
          }]
        }
      };
      if (extra) extra(o);
      return o;
    }
    function add(title, yLabel, series, data, extra) {
      var div = el("div", "chart");
      box.appendChild(div);
      if (!data[0].length) {
        div.appendChild(el("p", "empty", title + ": no samples"));
        return;
      }
      plots.push(new uPlot(opts(title, yLabel, series, extra), data, div));
    }
    var rate = info && info.rate_bps ? info.rate_bps : 0;
    var verdict = info && info.verdict ? info.verdict : "";

    // 1. throughput, the ceiling and the retransmissions per bin
    var bx = fs.c2s_bps.map(function (_, i) { return +(i * fs.bin_s).toFixed(6); });
    var tdata = [bx, fs.c2s_bps.map(function (v) { return v / 1e6; }), fs.s2c_bps.map(function (v) { return v / 1e6; })];
    var tser = [
      { label: "client→server Mbit/s", stroke: "rgba(31,111,209,0.45)", width: 1, fill: "rgba(31,111,209,0.06)" },
      { label: "server→client Mbit/s", stroke: COL.s2c, width: 1 }
    ];
    // Short bins are noisy at low rates: a 100 ms moving average of the
    // busier direction shows the plateau.
    var k = Math.round(0.1 / fs.bin_s);
    if (k > 1) {
      var busy = sum(fs.c2s_bps) >= sum(fs.s2c_bps) ? fs.c2s_bps : fs.s2c_bps;
      tdata.push(movingAvg(busy, k).map(function (v) { return v / 1e6; }));
      tser.push({ label: (busy === fs.c2s_bps ? "client→server" : "server→client") + " 100 ms average", stroke: "#0b3d91", width: 2.5 });
    }
    if (rate > 0) {
      tdata.push(constant(bx, rate / 1e6));
      tser.push({ label: "detected " + (verdict || "limit") + " " + fmtBps(rate), stroke: COL.ceil, width: 2, dash: [8, 4] });
    }
    var retx = fs.flags && fs.flags[0] ? fs.flags[0] : [];
    tdata.push(nulls(retx, function (v) { return !v; }));
    tser.push({ label: "retransmissions / bin", scale: "n", stroke: COL.retx, fill: "rgba(209,42,31,0.5)", width: 0,
      paths: uPlot.paths.bars ? uPlot.paths.bars({ size: [0.9, 6] }) : undefined, points: { show: false } });
    add("Throughput (" + (fs.bin_s * 1000).toFixed(0) + " ms bins) — red dashes: the detected ceiling; red bars: retransmissions",
      "Mbit/s", tser, tdata, function (o) {
        o.scales.n = { range: function (u, mn, mx) { return [0, Math.max(1, mx) * 2.5]; } };
        o.axes.push({ scale: "n", side: 1, label: "retx / bin", grid: { show: false }, size: 50 });
      });

    // 2. RTT halves, min and min+queueing delay
    var rj = uPlot.join([[fs.rtt_ack.t, fs.rtt_ack.y], [fs.rtt_echo.t, fs.rtt_echo.y]]);
    var rser = [
      Object.assign(pointsOnly(COL.ack, 3), { label: "data→ACK ms (capture point to receiver and back)" }),
      Object.assign(pointsOnly(COL.echo, 3), { label: "ACK→data ms (capture point to sender and back)" })
    ];
    if (info && info.rtt_min_ms > 0) {
      rj.push(constant(rj[0], info.rtt_min_ms));
      rser.push({ label: "min RTT " + info.rtt_min_ms.toFixed(1) + " ms", stroke: COL.min, dash: [6, 4], width: 1.5 });
      if (info.queue_delay_ms > 0) {
        rj.push(constant(rj[0], info.rtt_min_ms + info.queue_delay_ms));
        rser.push({ label: "min + queueing delay " + info.queue_delay_ms.toFixed(1) + " ms", stroke: COL.queue, dash: [2, 3], width: 1.5 });
      }
    }
    add("Round-trip time", "ms", rser, rj);

    // 3. bytes in flight vs the advertised window
    var fdata = [fs.flight.t, fs.flight.y.map(function (v) { return v / 1000; }), (fs.flight.y2 || []).map(function (v) { return v < 0 ? null : v / 1000; })];
    add("Bytes in flight vs receive window", "kB", [
      { label: "bytes in flight kB", stroke: COL.flight, width: 1 },
      { label: "advertised window kB", stroke: COL.win, width: 1.5, paths: uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined }
    ], fdata);

    // 4. time-sequence (Stevens) graph
    var ack = fs.ack || { t: [], y: [], y2: [] };
    var sj = uPlot.join([[fs.seg.t, fs.seg.y], [fs.retx.t, fs.retx.y], [fs.ooo.t, fs.ooo.y], [fs.lost.t, fs.lost.y], [ack.t, ack.y, ack.y2 || []]]);
    for (var i = 1; i < sj.length; i++) sj[i] = sj[i].map(function (v) { return v == null ? null : v / 1000; });
    var step = uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    add("Time-sequence (Stevens): segments, ACKs and window edge", "kB (relative seq)", [
      Object.assign(pointsOnly(COL.seg, 2), { label: "segment" }),
      Object.assign(pointsOnly(COL.retx, 7), { label: "retransmission" }),
      Object.assign(pointsOnly(COL.ooo, 6), { label: "out of order" }),
      Object.assign(pointsOnly(COL.lost, 7), { label: "after lost segment" }),
      { label: "ACK", stroke: COL.ack, width: 1.5, paths: step, spanGaps: true },
      { label: "ACK + window", stroke: COL.win, width: 1, paths: step, spanGaps: true }
    ], sj);

    // 5. analysis flags over time
    var fdat = [bx], fser = [];
    (fs.flags || []).forEach(function (arr, k) {
      var any = arr.some(function (v) { return v > 0; });
      if (!any) return;
      fdat.push(nulls(arr, function (v) { return !v; }));
      fser.push(Object.assign(pointsOnly(FLAGCOL[k % FLAGCOL.length], 6), { label: (names[k] || "flag " + k).replace(/_/g, " ") }));
    });
    if (fser.length) {
      add("TCP analysis flags per bin", "count", fser, fdat);
    } else {
      box.appendChild(el("p", "empty", "No TCP analysis flags on this flow."));
    }
    return plots;
  }

  function resizeAll(plots, box) {
    window.addEventListener("resize", function () {
      plots.forEach(function (p) { p.setSize({ width: chartWidth(box), height: 220 }); });
    });
  }

  // ---------- static report ----------
  function staticReport() {
    var dataEl = document.getElementById("ms-data");
    var d = JSON.parse(dataEl.textContent);
    document.querySelectorAll("table.sortable").forEach(sortable);
    var names = d.charts.flag_names || [];
    (d.charts.flows || []).forEach(function (fs) {
      var box = document.getElementById("charts-" + fs.id);
      if (!box) return;
      try {
        resizeAll(flowCharts(box, fs, d.info[String(fs.id)], names), box);
      } catch (e) {
        errors.push("flow " + fs.id + ": " + e.message);
      }
    });
    later(setStatus);
  }

  // uPlot draws on the next animation frame: check the canvases after it.
  function later(fn) {
    requestAnimationFrame(function () { setTimeout(fn, 50); });
  }

  // ---------- live page ----------
  function live() {
    var base = document.body.getAttribute("data-api") || "";
    var selected = null, plots = [];
    var info = {};
    function get(path) {
      return fetch(base + path, { cache: "no-store" }).then(function (r) {
        if (!r.ok) throw new Error(path + ": HTTP " + r.status);
        return r.json();
      });
    }
    function fill(id, head, rows) {
      var t = document.getElementById(id);
      t.textContent = "";
      var thead = t.createTHead().insertRow();
      head.forEach(function (h) { thead.appendChild(el("th", "", h)); });
      var tb = t.createTBody();
      rows.forEach(function (r) {
        var tr = tb.insertRow();
        r.cells.forEach(function (c) { tr.appendChild(el("td", "", c)); });
        if (r.onclick) { tr.className = "click"; tr.addEventListener("click", r.onclick); }
        if (r.sel) tr.className += " sel";
      });
    }
    function verdictOf(f) {
      var g = f.diagnosis || {};
      return g.verdict ? g.verdict + (g.rate_bps ? " @ " + fmtBps(g.rate_bps) : "") : "";
    }
    function poll() {
      Promise.all([get("/api/sessions"), get("/api/flows"), get("/api/findings")]).then(function (res) {
        var sessions = res[0] || [], flows = res[1] || [], findings = res[2] || [];
        fill("live-sessions", ["outer source", "VNI", "encap", "packets", "bytes", "flows"], sessions.map(function (s) {
          return { cells: [s.outer_src, s.vni, s.encap, s.packets, fmtBytes(s.bytes), s.flows] };
        }));
        flows.sort(function (a, b) { return (b.throughput_bps || 0) - (a.throughput_bps || 0); });
        fill("live-flows", ["id", "proto", "client", "server", "rate", "bytes", "verdict"], flows.map(function (f) {
          var g = f.diagnosis || {};
          info[f.id] = { rate_bps: g.rate_bps || 0, verdict: g.verdict || "", queue_delay_ms: g.queue_delay_ms || 0, rtt_min_ms: rttMin(g) };
          return { cells: [f.id, f.proto, f.client, f.server, fmtBps(f.throughput_bps), fmtBytes(f.bytes), verdictOf(f)],
            sel: f.id === selected, onclick: f.proto === "tcp" ? function () { selected = f.id; series(); } : null };
        }));
        var ul = document.getElementById("live-findings");
        ul.textContent = "";
        if (!findings.length) ul.appendChild(el("li", "", "No findings yet."));
        findings.forEach(function (f) {
          var li = el("li", "sev-" + (f.severity || "info"));
          li.appendChild(el("strong", "", (f.severity || "info") + ": "));
          li.appendChild(document.createTextNode(f.summary || ""));
          ul.appendChild(li);
        });
        document.getElementById("live-updated").textContent = "updated " + new Date().toLocaleTimeString();
        if (selected != null) return series();
      }).catch(function (e) {
        document.getElementById("live-updated").textContent = "poll failed: " + e.message;
      }).then(function () { setStatus(); setTimeout(poll, 1500); });
    }
    function series() {
      return get("/api/flows/" + selected + "/series").then(function (d) {
        var box = document.getElementById("live-charts");
        plots.forEach(function (p) { p.destroy(); });
        box.textContent = "";
        box.appendChild(el("h3", "", "Flow " + selected));
        plots = flowCharts(box, d.flow, info[selected], d.flag_names || []);
        later(setStatus);
      }).catch(function (e) {
        document.getElementById("live-charts").textContent = "series of flow " + selected + ": " + e.message;
      });
    }
    function rttMin(g) {
      var m = g.measurements || {};
      var dm = m[g.direction || "client_to_server"] || {};
      return dm.rtt && dm.rtt.min_ms ? dm.rtt.min_ms : 0;
    }
    var q = new URLSearchParams(location.search).get("flow");
    if (q) selected = parseInt(q, 10);
    poll();
  }

  try {
    if (document.body.getAttribute("data-mode") === "live") live(); else staticReport();
  } catch (e) {
    errors.push(e.message);
    setStatus();
  }
})();
