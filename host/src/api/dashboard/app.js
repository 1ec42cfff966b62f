// Testbed dashboard: plain JavaScript, no build step, no external network. Talks only to the
// host's own API (docs/api.md) with the token kept in sessionStorage for this tab.
'use strict';

const state = { token: sessionStorage.getItem('tb_token') || '', role: '', zone: null, proj: null,
                sensorPos: {}, stream: null, lastEventId: 0, timer: null };

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, text) => {
  const e = document.createElementNS(tag === 'svg' || attrs.svg ? 'http://www.w3.org/2000/svg'
                                                                : 'http://www.w3.org/1999/xhtml', tag);
  for (const [k, v] of Object.entries(attrs)) if (k !== 'svg') e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

function message(text) { $('message').textContent = text || ''; }

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch(path, opts);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error || res.status) + ': ' + (body.detail || res.statusText));
  return body;
}

function fmtAge(us) {
  if (!us) return '-';
  const s = (Date.now() * 1000 - us) / 1e6;
  return s < 1 ? 'now' : s < 120 ? s.toFixed(0) + ' s ago' : (s / 60).toFixed(0) + ' min ago';
}

// --- map --------------------------------------------------------------------------------------

function rings(geojson) {
  const out = [];
  const geom = (g) => {
    if (!g) return;
    if (g.type === 'Polygon') out.push(g.coordinates[0]);
    else if (g.type === 'MultiPolygon') g.coordinates.forEach((p) => out.push(p[0]));
  };
  if (geojson.type === 'FeatureCollection') geojson.features.forEach((f) => geom(f.geometry));
  else if (geojson.type === 'Feature') geom(geojson.geometry);
  else geom(geojson);
  return out;
}

function inside(pt, ring) {
  let c = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i], [xj, yj] = ring[j];
    if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < ((xj - xi) * (pt[1] - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}

function hash(s, seed) {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return ((h >>> 0) % 100000) / 100000;
}

function setupMap(zone) {
  const svg = $('map');
  svg.textContent = '';
  const rs = rings(zone.zone);
  let minx = 180, maxx = -180, miny = 90, maxy = -90;
  rs.flat().forEach(([x, y]) => { minx = Math.min(minx, x); maxx = Math.max(maxx, x);
                                  miny = Math.min(miny, y); maxy = Math.max(maxy, y); });
  // Equirectangular projection scaled by cos(latitude): good enough for a few kilometres.
  const k = Math.cos(((miny + maxy) / 2) * Math.PI / 180);
  const w = 800, h = 560, pad = 20;
  const s = Math.min((w - 2 * pad) / ((maxx - minx) * k), (h - 2 * pad) / (maxy - miny));
  state.proj = ([lon, lat]) => [pad + (lon - minx) * k * s, h - pad - (lat - miny) * s];
  for (const r of rs) {
    const d = r.map((p, i) => (i ? 'L' : 'M') + state.proj(p).map((v) => v.toFixed(1)).join(',')).join(' ') + 'Z';
    svg.appendChild(el('path', { svg: 1, d, class: 'zone' }));
  }
  // Schematic sensor positions: stable pseudo-random points inside the zone.
  for (const g of zone.sensors) {
    for (let i = 1; i <= g.count; i++) {
      const id = g.id_prefix + String(i).padStart(4, '0');
      const topic = g.topic_prefix + id;
      let p = [minx, miny];
      for (let seed = 0; seed < 50; seed++) {
        p = [minx + hash(topic, seed) * (maxx - minx), miny + hash(topic, seed + 100) * (maxy - miny)];
        if (rs.some((r) => inside(p, r))) break;
      }
      state.sensorPos[topic] = { pos: p, group: g };
      const [x, y] = state.proj(p);
      const c = el('circle', { svg: 1, cx: x.toFixed(1), cy: y.toFixed(1), r: 6, class: 'sensor none',
                               'data-topic': topic });
      c.appendChild(el('title', { svg: 1 }, topic + ': no data'));
      svg.appendChild(c);
    }
  }
  svg.appendChild(el('g', { svg: 1, id: 'drones' }));
}

function senmlValue(v) {
  // SenML pack: the first record with a value; lat/lon records place the sensor.
  if (!Array.isArray(v)) return { text: JSON.stringify(v) };
  const out = {};
  let bu = '';
  for (const r of v) {
    if (r.bu) bu = r.bu;
    if (r.n === 'lat' || r.n === 'latitude') out.lat = r.v;
    else if (r.n === 'lon' || r.n === 'longitude') out.lon = r.v;
    else if (out.value === undefined && (r.v !== undefined || r.vs !== undefined || r.vb !== undefined)) {
      out.value = r.v !== undefined ? r.v : r.vs !== undefined ? r.vs : r.vb;
      out.unit = r.u || bu;
      out.name = r.n || '';
    }
  }
  out.text = out.value === undefined ? '' : out.value + ' ' + (out.unit || '');
  return out;
}

function dronePosition(v) {
  // drone/<id>/position: JSON with lat/lon in degrees, or MAVLink GLOBAL_POSITION_INT (degE7).
  if (!v || typeof v !== 'object') return null;
  let lat = v.lat ?? v.latitude ?? v.lat_deg, lon = v.lon ?? v.longitude ?? v.lon_deg;
  if (typeof lat !== 'number' || typeof lon !== 'number') return null;
  if (Math.abs(lat) > 90 || Math.abs(lon) > 180) { lat /= 1e7; lon /= 1e7; }
  return [lon, lat];
}

function updateMap(latest) {
  if (!state.proj) return;
  const now = Date.now() * 1000;
  const drones = $('drones');
  drones.textContent = '';
  for (const item of latest) {
    const known = state.sensorPos[item.topic];
    if (known) {
      const c = document.querySelector('circle.sensor[data-topic="' + CSS.escape(item.topic) + '"]');
      if (!c) continue;
      const v = senmlValue(item.value);
      const stale = (now - item.t_us) / 1e6 > known.group.stale_after_s;
      c.setAttribute('class', 'sensor ' + (stale ? 'stale' : 'fresh'));
      c.setAttribute('data-value', v.value === undefined ? '' : String(v.value));
      if (typeof v.lat === 'number' && typeof v.lon === 'number') {
        const [x, y] = state.proj([v.lon, v.lat]);
        c.setAttribute('cx', x.toFixed(1));
        c.setAttribute('cy', y.toFixed(1));
      }
      c.firstChild.textContent = item.topic + ': ' + v.text + ' (' + fmtAge(item.t_us) + ')';
    } else if (item.topic.startsWith('drone/')) {
      const p = dronePosition(item.value);
      if (!p) continue;
      const id = item.topic.split('/')[1];
      const [x, y] = state.proj(p);
      const t = el('path', { svg: 1, class: 'drone', 'data-drone': id,
                             d: `M${x.toFixed(1)},${(y - 8).toFixed(1)} l6,13 l-12,0 Z` });
      t.appendChild(el('title', { svg: 1 }, id + ' ' + p[1].toFixed(5) + ', ' + p[0].toFixed(5)));
      drones.appendChild(t);
      drones.appendChild(el('text', { svg: 1, x: (x + 8).toFixed(1), y: (y + 4).toFixed(1) }, id));
    }
  }
}

// --- tables -----------------------------------------------------------------------------------

function fillTable(id, rows) {
  const tbody = document.querySelector('#' + id + ' tbody');
  tbody.textContent = '';
  rows.forEach((r) => tbody.appendChild(r));
}

function row(cells, attrs) {
  const tr = el('tr', attrs || {});
  for (const c of cells) {
    const td = el('td', c.attrs || {});
    if (c.node) td.appendChild(c.node); else td.textContent = c.text ?? c;
    tr.appendChild(td);
  }
  return tr;
}

async function trialAction(id, verb) {
  try {
    await api('/api/v1/trials/' + id + '/' + verb, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ reason: verb + ' from the dashboard' }) });
    message('');
  } catch (e) { message(e.message); }
  refresh();
}

function renderTrials(trials) {
  fillTable('trials', trials.map((t) => {
    let action = { text: '' };
    if (state.role === 'staff' && (t.state === 'active' || t.state === 'suspended')) {
      const verb = t.state === 'active' ? 'suspend' : 'resume';
      const b = el('button', { type: 'button', class: verb, 'data-trial-id': t.id }, verb === 'suspend' ? 'Stop' : 'Resume');
      b.addEventListener('click', () => trialAction(t.id, verb));
      action = { node: b };
    }
    const win = new Date(t.from_us / 1000).toISOString().slice(0, 16) + ' – ' +
                new Date(t.until_us / 1000).toISOString().slice(0, 16);
    return row([String(t.id), t.plugin_id + ' ' + t.plugin_version, t.organisation,
                { text: t.state, attrs: { class: 'state state-' + t.state } }, win, action],
               { 'data-trial-id': t.id });
  }));
}

function renderPlugins(plugins) {
  fillTable('plugins', plugins.map((p) => row([
    p.instance, p.organisation || '', p.mode, { text: p.state, attrs: { class: 'state-' + p.state } },
    String(p.inbox_depth), { text: String(p.delivered), attrs: { class: 'delivered' } },
    String(p.dropped_inbox + p.dropped_not_running),
    (p.callback_p50_us || 0).toFixed(1) + ' / ' + (p.callback_p99_us || 0).toFixed(1)],
    { 'data-instance': p.instance })));
}

function renderFeeds(feeds) {
  const stale = feeds.filter((f) => f.stale).length;
  const gaps = feeds.reduce((a, f) => a + f.gaps, 0);
  $('feed-summary').textContent = feeds.length + ' sources, ' + stale + ' stale, ' + gaps + ' messages missing';
  fillTable('feeds', feeds.slice(0, 200).map((f) => row([
    f.source, f.rate_hz.toFixed(2), String(f.messages), String(f.gaps),
    { text: fmtAge(f.last_seen_us), attrs: { class: f.stale ? 'state-failed' : '' } }],
    { 'data-source': f.source })));
}

function addEvent(ev) {
  if (ev.id <= state.lastEventId) return;
  state.lastEventId = ev.id;
  const li = el('li', { class: 'sev-' + ev.severity, 'data-event-id': ev.id },
                ev.time.slice(11, 19) + ' [' + ev.severity + '] ' + (ev.instance || 'host') + ' ' + ev.kind +
                ': ' + ev.message);
  const list = $('events');
  list.insertBefore(li, list.firstChild);
  while (list.children.length > 200) list.removeChild(list.lastChild);
}

// --- polling and the event stream -------------------------------------------------------------

async function refresh() {
  if (!state.token) return;
  try {
    const [status, plugins, trials, feeds, latest] = await Promise.all([
      api('/api/v1/status'), api('/api/v1/plugins'), api('/api/v1/trials'), api('/api/v1/feeds'),
      api('/api/v1/latest')]);
    state.role = status.caller.role;
    $('caller').textContent = status.caller.name + ' (' + status.caller.role + ')';
    $('testbed-name').textContent = status.name || status.testbed;
    $('uptime').textContent = status.uptime_s.toFixed(0) + ' s';
    $('received').textContent = status.received !== undefined ? String(status.received) : '-';
    $('rate').textContent = status.received_rate_hz !== undefined ? status.received_rate_hz.toFixed(1) : '-';
    $('updated').textContent = new Date().toISOString().slice(11, 19);
    renderTrials(trials);
    renderPlugins(plugins);
    renderFeeds(feeds);
    updateMap(latest);
    message('');
  } catch (e) {
    message(e.message);
  }
}

function openStream() {
  if (state.stream) state.stream.close();
  const url = '/api/v1/events/stream?since=' + state.lastEventId + '&access_token=' + encodeURIComponent(state.token);
  state.stream = new EventSource(url);
  state.stream.addEventListener('event', (m) => { try { addEvent(JSON.parse(m.data)); } catch (e) { /* skip */ } });
}

async function start() {
  if (!state.token) { message('Enter an API token to see the testbed.'); return; }
  try {
    const zone = await api('/api/v1/zone');
    setupMap(zone);
    const evs = await api('/api/v1/events?limit=1000');
    evs.events.slice(-50).forEach(addEvent);
    state.lastEventId = Math.max(state.lastEventId, evs.next);
    openStream();
    await refresh();
    clearInterval(state.timer);
    state.timer = setInterval(refresh, 1000);
  } catch (e) {
    message(e.message);
  }
}

$('token').value = state.token;
$('signin').addEventListener('click', () => {
  state.token = $('token').value.trim();
  sessionStorage.setItem('tb_token', state.token);
  start();
});
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem('tb_token');
  location.reload();
});
start();
