// The desk's page: every figure comes from the public API (/v1/...), drawn with Plotly.js.
// window.fxscen keeps the last responses and the last redraw's time, for tests and benches.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { set: null, doc: null, etag: null, changed: {}, responses: {}, timings: {} };
window.fxscen = state;

const DEFAULT_BOOK = [
  { kind: "call", strike: 150.0, tenor: "3M", notional: 1e6, label: "3M 150 call" },
  { kind: "put", strike: 140.0, tenor: "3M", notional: 1e6, side: "sell", label: "3M 140 put (sold)" },
  { kind: "digital_call", strike: 155.0, tenor: "1M", payout_currency: "JPY", notional: 1e7, label: "1M 155 digital" },
];
const ENTITIES = ["toyota", "honda", "nissan"];
const LAYOUT = { margin: { l: 60, r: 20, t: 30, b: 45 }, font: { size: 12, color: "#111" },
                 paper_bgcolor: "#fff", plot_bgcolor: "#fff", legend: { orientation: "h" } };
const CONFIG = { displaylogo: false, responsive: true };

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["content-type"] = init.headers["content-type"] || "application/json";
  }
  const response = await fetch(path, init);
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error((data && data.detail) || `${response.status}`);
    error.status = response.status;
    error.problem = data;
    throw error;
  }
  return { data, response };
}

function say(text) { $("message").textContent = text || ""; }

function sources() {
  const s = { scenario_set_id: $("set").value };
  const v = parseInt($("version").value, 10);
  if (v > 0) s.scenario_set_version = v;
  if ($("market").value) s.market_id = $("market").value;
  const probabilities = {};
  for (const [name, p] of Object.entries(state.changed)) probabilities[name] = p;
  if (Object.keys(probabilities).length) s.overrides = { probabilities };
  return s;
}

function book() {
  try { return JSON.parse($("book").value); } catch (e) { throw new Error(`the book is not JSON: ${e.message}`); }
}

async function loadSets() {
  const { data } = await api("GET", "/v1/scenario-sets");
  $("set").replaceChildren(...data.map((s) => new Option(`${s.id} (v${s.version})`, s.id)));
  const markets = (await api("GET", "/v1/markets")).data;
  $("market").append(...markets.map((m) => new Option(`${m.id} (v${m.version})`, m.id)));
}

async function loadSet() {
  const id = $("set").value;
  const v = parseInt($("version").value, 10);
  const path = v > 0 ? `/v1/scenario-sets/${id}/versions/${v}` : `/v1/scenario-sets/${id}`;
  const { data, response } = await api("GET", path);
  state.doc = data.document;
  state.etag = response.headers.get("etag");
  state.changed = {};
  buildSliders();
}

function buildSliders() {
  const box = $("sliders");
  box.replaceChildren();
  for (const s of state.doc.scenarios || []) {
    const label = document.createElement("label");
    label.htmlFor = `p-${s.name}`;
    label.textContent = `p(${s.name})`;
    const input = Object.assign(document.createElement("input"), {
      type: "range", min: 0, max: 1, step: 0.01, value: s.probability, id: `p-${s.name}`,
    });
    input.dataset.scenario = s.name;
    const out = Object.assign(document.createElement("output"), { id: `p-${s.name}-value`, value: s.probability.toFixed(2) });
    input.addEventListener("input", () => {
      out.value = Number(input.value).toFixed(2);
      state.changed = { [s.name]: Number(input.value) };  // the others rescaled by the API
      whatIf();
    });
    box.append(label, input, out);
  }
}

let pending = null;
function whatIf() {  // one re-price in flight; the latest slider position wins
  if (pending) { pending.again = true; return; }
  pending = { again: false };
  const started = performance.now();
  const book = priceBook().then(() => { state.timings.whatIf = performance.now() - started; });
  // the mixture's fan, smiles, density and CDS follow the view too, in parallel
  const rest = Promise.all([drawFan(), drawSurface(), drawCds()]).catch(() => {});
  Promise.all([book, rest]).then(() => {
    state.timings.whatIfAll = performance.now() - started;
  }).finally(() => {
    const again = pending.again;
    pending = null;
    if (again) whatIf();
  });
}

async function priceBook() {
  let body;
  try {
    body = { ...sources(), measure: $("measure").value, instruments: book() };
  } catch (e) { say(e.message); return; }
  try {
    const { data } = await api("POST", "/v1/price", body);
    say("");
    state.responses.price = data;
    drawScenarios(data);
    drawBook(data);
  } catch (e) {
    say(e.status ? `${e.status}: ${e.message}` : e.message);
    state.responses.price = null;
  }
}

function fmt(x, digits = 4) { return x === null || x === undefined ? "" : Number(x).toFixed(digits); }

function drawScenarios(price) {
  const m = price.measure;
  const rows = (state.doc.scenarios || []).map((s) => {
    const tr = document.createElement("tr");
    const drivers = Object.entries(s.drivers || {}).map(([k, v]) => `${k} ${v}`).join(", ");
    const cells = [s.name, fmt(m.probabilities[s.name]), fmt(m.weights[s.name]),
      fmt(s.level, 2), fmt(m.jump_ratios[s.name]), fmt(s.vol, 3), drivers];
    cells.forEach((c, i) => { const td = document.createElement(i ? "td" : "th"); if (!i) td.scope = "row"; td.textContent = c; tr.append(td); });
    tr.dataset.scenario = s.name;
    return tr;
  });
  $("scenarios").tBodies[0].replaceChildren(...rows);
  $("measure-line").textContent = `measure ${m.measure}; tilt λ ${fmt(m.tilt_lambda)}; forward mismatch ${fmt(m.forward_mismatch, 6)} (subjective ${fmt(m.subjective_forward_mismatch, 6)})`;
  const c = price.consistency;
  $("consistency").textContent = c ? `market consistency: ${c.consistent ? "consistent" : "not consistent"}${c.reason ? " — " + c.reason : ""}` : "";
}

function drawBook(price) {
  const t = price.totals;
  const names = Object.keys(t.scenario_pnl);
  $("book-value").textContent = `book value ${fmt(t.value, 2)} ${t.reporting_currency}`;
  $("book-value").dataset.value = String(t.value);
  const traces = [
    { type: "bar", name: "value if it happens", x: names, y: names.map((n) => t.scenario_values[n]) },
    { type: "bar", name: "P&L", x: names, y: names.map((n) => t.scenario_pnl[n]) },
  ];
  Plotly.react("pnl", traces, { ...LAYOUT, barmode: "group", yaxis: { title: t.reporting_currency } }, CONFIG);
  const rows = Object.entries(t.greeks).map(([k, v]) => {
    const tr = document.createElement("tr");
    tr.innerHTML = `<th scope="row"></th><td></td>`;
    tr.cells[0].textContent = k; tr.cells[1].textContent = fmt(v, 2);
    return tr;
  });
  $("greeks").tBodies[0].replaceChildren(...rows);
}

async function drawFan() {
  const body = { ...sources(), tenor: $("horizon").value, n_paths: 20000, n_sample_paths: 5, seed: 7,
                 quantiles: [0.05, 0.25, 0.5, 0.75, 0.95] };
  const { data } = await api("POST", "/v1/paths", body);
  state.responses.paths = data;
  const x = data.dates;
  const band = (q) => data.bands.find((b) => b.quantile === q).values;
  const traces = [
    { x, y: band(0.05), name: "5%", line: { width: 0 }, showlegend: false },
    { x, y: band(0.95), name: "5–95%", fill: "tonexty", fillcolor: "rgba(11,79,156,.15)", line: { width: 0 } },
    { x, y: band(0.25), name: "25%", line: { width: 0 }, showlegend: false },
    { x, y: band(0.75), name: "25–75%", fill: "tonexty", fillcolor: "rgba(11,79,156,.3)", line: { width: 0 } },
    { x, y: band(0.5), name: "median", line: { color: "#0b4f9c" } },
    ...data.scenarios.map((s) => ({ x, y: s.bands.find((b) => b.quantile === 0.5).values, name: `${s.name} median`, line: { dash: "dot", width: 1 } })),
    ...data.sample_paths.map((p, i) => ({ x, y: p.spots, name: `path ${i + 1} (${p.scenario})`, line: { width: 0.7, color: "#888" }, showlegend: false })),
  ];
  const shapes = data.decision_dates.map((d) => ({ type: "line", x0: d, x1: d, yref: "paper", y0: 0, y1: 1, line: { color: "#a00000", dash: "dash" } }));
  Plotly.react("fan", traces, { ...LAYOUT, shapes, yaxis: { title: "JPY per USD" } }, CONFIG);
}

async function drawSurface() {
  const { data } = await api("POST", "/v1/vol-surface", { ...sources(), measure: $("measure").value });
  state.responses.surface = data;
  const expiry = $("expiry");
  if (!expiry.options.length) {
    expiry.replaceChildren(...data.tenors.map((t, i) => new Option(`${t.tenor} (${t.expiry})`, String(i))));
    expiry.value = String(Math.min(3, data.tenors.length - 1));
  }
  const i = Number(expiry.value);
  const k = data.strikes;
  Plotly.react("density", [
    { x: k, y: data.market.densities[i], name: "market" },
    { x: k, y: data.mixture.densities[i], name: "mixture" },
  ], { ...LAYOUT, xaxis: { title: "strike (JPY per USD)" }, yaxis: { title: "density" } }, CONFIG);
  const tenor = data.tenors[i].tenor;
  const smileTraces = [
    { x: k, y: data.market.vols[i], name: "market" },
    { x: k, y: data.mixture.vols[i], name: "mixture-implied" },
    ...data.scenarios.map((s) => {
      const q = s.smile && s.smile.quotes ? s.smile.quotes.find((r) => r.tenor === tenor) : null;
      if (!q) return null;
      const pts = [...q.wings.map((w) => [w.put_strike, w.put_vol]).reverse(), [q.atm_strike, q.atm_vol], ...q.wings.map((w) => [w.call_strike, w.call_vol])];
      return { x: pts.map((p) => p[0]), y: pts.map((p) => p[1]), name: s.name, mode: "lines+markers", line: { dash: "dot" } };
    }).filter(Boolean),
  ];
  Plotly.react("smile", smileTraces, { ...LAYOUT, title: { text: `smiles at ${tenor}` }, xaxis: { title: "strike" }, yaxis: { title: "vol", tickformat: ".1%" } }, CONFIG);
  const times = data.tenors.map((t) => t.time);
  const eventTime = (new Date(data.event_date) - new Date(data.valuation_date)) / 864e5 / 365;
  Plotly.react("term", [
    { x: times, y: data.market.quotes.map((q) => q.atm_vol), name: "market ATM", mode: "lines+markers" },
    { x: times, y: data.mixture.quotes.map((q) => q.atm_vol), name: "mixture ATM", mode: "lines+markers" },
  ], { ...LAYOUT, title: { text: "ATM term structure" }, xaxis: { title: "years" }, yaxis: { title: "vol", tickformat: ".1%" },
       shapes: [{ type: "line", x0: eventTime, x1: eventTime, yref: "paper", y0: 0, y1: 1, line: { color: "#a00000", dash: "dash" } }] }, CONFIG);
}

async function drawCds() {
  const contracts = ENTITIES.map((e) => ({ entity: e, tenor: "5Y", label: `${e} 5Y` }));
  const { data } = await api("POST", "/v1/cds", { ...sources(), contracts });
  state.responses.cds = data;
  const names = Object.keys(data.results[0].scenarios);
  const traces = [
    ...names.map((n) => ({ type: "bar", name: n, x: ENTITIES, y: data.results.map((r) => r.scenarios[n].par_spread_bp) })),
    { type: "bar", name: "mixture", x: ENTITIES, y: data.results.map((r) => r.mixture.par_spread_bp) },
  ];
  Plotly.react("cds", traces, { ...LAYOUT, barmode: "group", yaxis: { title: "par spread (bp)" } }, CONFIG);
}

let snapshots = Promise.resolve();
function download(url, filename) {  // a file download of a data: or blob: URL
  const a = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
}
function addTools(id) {  // PNG, SVG and the numbers behind the chart as CSV
  const chart = $(id);
  const tools = document.createElement("div");
  tools.className = "tools";
  for (const format of ["png", "svg"]) {
    const b = Object.assign(document.createElement("button"), { type: "button", textContent: format.toUpperCase() });
    b.setAttribute("aria-label", `download the ${id} chart as ${format.toUpperCase()}`);
    // one snapshot at a time (Plotly refuses a second while one is in progress)
    b.addEventListener("click", () => {
      snapshots = snapshots.then(() => Plotly.toImage(chart, { format }))
        .then((url) => download(url, `fxscen-${id}.${format}`))
        .catch((e) => say(`the ${format.toUpperCase()} could not be made: ${e}`));
    });
    tools.append(b);
  }
  const csv = Object.assign(document.createElement("button"), { type: "button", textContent: "CSV" });
  csv.setAttribute("aria-label", `download the numbers of the ${id} chart as CSV`);
  csv.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([chartCsv(chart)], { type: "text/csv" }));
    download(url, `fxscen-${id}.csv`);
    setTimeout(() => URL.revokeObjectURL(url), 60000);  // after the download has read it
  });
  tools.append(csv);
  chart.before(tools);
}

function chartCsv(chart) {
  const lines = ["series,x,y"];
  for (const t of chart.data || []) {
    (t.x || []).forEach((x, i) => lines.push(`"${t.name}",${x},${t.y[i]}`));
  }
  return lines.join("\n") + "\n";
}

function csvBook(text) {  // a CSV book file as POST /v1/price lines (the batch column schema)
  const [header, ...rows] = text.trim().split(/\r?\n/).map((l) => l.split(","));
  const numbers = new Set(["notional", "barrier", "rebate", "cash", "lower_barrier", "upper_barrier",
    "knock_in_barrier", "knock_out_barrier", "coupon_bp"]);
  return rows.map((cells) => {
    const line = {};
    header.forEach((name, i) => {
      const v = (cells[i] || "").trim();
      if (!v) return;
      if (name.startsWith("tag.")) { (line.tags = line.tags || {})[name.slice(4)] = v; return; }
      if (name === "strike") line.strike = isNaN(Number(v)) ? v : Number(v);
      else if (numbers.has(name)) line[name] = Number(v);
      else if (v === "true" || v === "false") line[name] = v === "true";
      else line[name] = v;
    });
    return line;
  });
}

async function save() {
  const key = $("key").value.trim();
  const probabilities = state.responses.price ? state.responses.price.measure.probabilities : null;
  if (!probabilities) { say("price the view first"); return; }
  const patch = (state.doc.scenarios || []).map((s, i) => ({ op: "replace", path: `/scenarios/${i}/probability`, value: probabilities[s.name] }));
  patch.push({ op: "add", path: "/change_note", value: $("note").value });
  try {
    const headers = { "content-type": "application/json-patch+json", "if-match": state.etag || "*" };
    if (key) headers.authorization = `Bearer ${key}`;
    const { data } = await api("PATCH", `/v1/scenario-sets/${$("set").value}`, patch, headers);
    say(`saved as version ${data.version}`);
    $("version").value = "";
    await loadSet();
  } catch (e) { say(`${e.status}: ${e.message}`); }
}

async function reload() {
  say("");
  try {
    await loadSet();
    await Promise.all([priceBook(), drawFan(), drawSurface(), drawCds()]);
    state.timings.loaded = performance.now();
  } catch (e) { say(e.status ? `${e.status}: ${e.message}` : e.message); }
}

async function main() {
  $("book").value = JSON.stringify(DEFAULT_BOOK, null, 1);
  ["pnl", "fan", "density", "smile", "term", "cds"].forEach(addTools);
  $("reload").addEventListener("click", reload);
  $("set").addEventListener("change", () => { $("version").value = ""; reload(); });
  $("measure").addEventListener("change", reload);
  $("market").addEventListener("change", reload);
  $("expiry").addEventListener("change", () => drawSurface().catch((e) => say(e.message)));
  $("horizon").addEventListener("change", () => drawFan().catch((e) => say(e.message)));
  $("price-button").addEventListener("click", priceBook);
  $("save-button").addEventListener("click", save);
  $("book-file").addEventListener("change", async (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    $("book").value = JSON.stringify(csvBook(await file.text()), null, 1);
    priceBook();
  });
  try { await loadSets(); } catch (e) { say(e.message); return; }
  await reload();
  state.ready = true;
  document.body.dataset.ready = "true";
}

main();
