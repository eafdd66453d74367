// The ops page's one script: asks for the admin token (kept in sessionStorage for this tab), reads
// GET /admin/ops/summary with it, and draws tables and small SVG bar charts. Every value from the
// server goes in through textContent / attributes, never as markup.
'use strict';
(function () {
  const KEY = 'paynats.ops.token';
  const SVG = 'http://www.w3.org/2000/svg';
  const $ = (sel) => document.querySelector(sel);
  let timer = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '—' : String(c)));
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  /** A horizontal bar chart: rows of {label, value, cls}. */
  function barChart(title, rows) {
    const w = 460, labelW = 170, valueW = 60, rowH = 20, top = 18;
    const h = top + Math.max(rows.length, 1) * rowH + 4;
    const max = Math.max(1, ...rows.map((r) => r.value));
    const s = svg('svg', { class: 'chart', width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img', 'aria-label': title });
    s.append(svg('title', {}, title));
    s.append(svg('text', { x: 0, y: 12, 'font-weight': 'bold' }, title));
    if (rows.length === 0) s.append(svg('text', { x: 0, y: top + 14 }, 'nothing yet'));
    rows.forEach((r, i) => {
      const y = top + i * rowH;
      const bw = Math.round(((w - labelW - valueW) * r.value) / max);
      s.append(svg('text', { x: 0, y: y + 14 }, r.label));
      s.append(svg('rect', { class: 'bar ' + (r.cls || ''), x: labelW, y: y + 3, width: Math.max(bw, r.value > 0 ? 2 : 0), height: rowH - 6, 'data-label': r.label, 'data-value': r.value }));
      s.append(svg('text', { x: labelW + bw + 4, y: y + 14 }, r.value.toLocaleString()));
    });
    return s;
  }

  function table(headers, rows, numeric) {
    if (rows.length === 0) return el('p', { class: 'empty' }, 'None.');
    const t = el('table');
    t.append(el('thead', {}, el('tr', {}, ...headers.map((h, i) => el('th', numeric && numeric.includes(i) ? { class: 'num' } : {}, h)))));
    const body = el('tbody');
    for (const r of rows) body.append(el('tr', {}, ...r.map((v, i) => (v instanceof Node ? el('td', {}, v) : el('td', numeric && numeric.includes(i) ? { class: 'num' } : {}, typeof v === 'number' ? v.toLocaleString() : v)))));
    t.append(body);
    return t;
  }

  const fill = (sel, ...nodes) => $(sel).replaceChildren(...nodes);
  const bytes = (b) => (b < 1024 ? `${b} B` : b < 1048576 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1048576).toFixed(1)} MiB`);
  const age = (ts) => (ts ? `${Math.max(0, Math.round(Date.now() / 1000 - ts))} s` : null);
  const money = (a, c) => `${(a / 100).toFixed(2)} ${String(c).toUpperCase()}`;
  const when = (ts) => (ts ? new Date(ts * 1000).toISOString().replace('T', ' ').slice(0, 19) : null);

  function render(s) {
    const nats = s.nats;
    if (!nats) {
      fill('#streams .body', el('p', { class: 'bad' }, 'No NATS reading (see the gateway log).'));
      fill('#consumers .body');
      fill('#consumers .chart');
    } else {
      fill(
        '#streams .body',
        table(['Stream', 'Messages', 'Bytes', 'Oldest'], nats.streams.map((x) => [x.stream, x.messages, bytes(x.bytes), age(x.first_ts)]), [1, 2, 3]),
        el('p', {}, `Partitions with an owner: ${nats.partitions.with_owner} / ${nats.partitions.total}`),
      );
      fill('#consumers .chart', barChart('Consumer lag (pending messages)', nats.consumers.map((c) => ({ label: c.durable, value: c.pending, cls: c.pending > 1000 ? 'bad' : c.pending > 0 ? 'warn' : 'ok' }))));
      fill('#consumers .body', table(['Stream', 'Durable', 'Pending (lag)', 'Ack pending', 'Redelivered', 'Waiting'], nats.consumers.map((c) => [c.stream, c.durable, c.pending, c.ack_pending, c.redelivered, c.waiting]), [2, 3, 4, 5]));
    }

    const wh = s.webhooks;
    const by = wh.deliveries_by_status;
    const cls = { delivered: 'ok', pending: '', failed: 'warn', dead: 'bad' };
    fill('#webhooks .chart', barChart('Webhook deliveries by status', ['delivered', 'pending', 'failed', 'dead'].map((k) => ({ label: k, value: by[k] || 0, cls: cls[k] }))));
    const tries = wh.tries_by_outcome;
    fill(
      '#webhooks .body',
      el('p', {}, `Tries: ${(tries.delivered || 0).toLocaleString()} delivered, ${(tries.failed || 0).toLocaleString()} failed. Dead letters (DLQ depth): `, el('strong', { class: wh.dead_letters ? 'bad' : 'ok', id: 'dlq-depth' }, wh.dead_letters ?? '—')),
      el('h3', {}, 'Failing endpoints'),
      table(['Merchant', 'Endpoint', 'URL', 'Status', 'Failing', 'Last HTTP', 'Last try'], wh.failing_endpoints.map((e) => [e.merchant, e.endpoint, e.url, e.status === 'disabled' ? el('span', { class: 'bad' }, 'disabled') : e.status, e.failing_deliveries, e.last_status_code, when(e.last_attempt_at)]), [4, 5]),
    );

    const rc = s.reconciliation;
    if (!rc) fill('#reconciliation .body', el('p', { class: 'empty' }, 'Reconciliation does not run in this process.'));
    else
      fill(
        '#reconciliation .body',
        el('h3', {}, `Stuck attempts (${rc.stuck_attempts.length})`),
        table(['Charge', 'Intent', 'Merchant', 'Status', 'Amount', 'Age'], rc.stuck_attempts.map((a) => [a.id, a.intent, a.merchant, a.status, money(a.amount, a.currency), `${Math.round(a.age_ms / 1000)} s`]), [4, 5]),
        el('h3', {}, `Open discrepancies (${rc.open_discrepancies.length})`),
        table(['Id', 'Kind', 'Merchant', 'Intent', 'Network ref', 'Found'], rc.open_discrepancies.map((d) => [d.id, d.kind, d.merchant, d.intent, d.network_ref, when(d.created_at)])),
      );

    const p = s.payments;
    const pc = { succeeded: 'ok', failed: 'bad', in_doubt: 'warn', pending: '', requires_action: '' };
    fill('#payments .chart', barChart('Payment attempts by status', Object.keys(pc).map((k) => ({ label: k, value: p.attempts_by_status[k] || 0, cls: pc[k] }))));
    fill(
      '#payments .body',
      table(['When', 'Charge', 'Intent', 'Merchant', 'Amount', 'Code', 'Decline code', 'Message'], p.recent_failed.map((f) => [when(f.created), f.charge, f.intent, f.merchant, money(f.amount, f.currency), f.failure_code, f.decline_code, f.failure_message]), [4]),
    );
    $('#status').textContent = `Updated ${when(s.generated_at)} UTC`;
  }

  async function load() {
    const token = sessionStorage.getItem(KEY);
    if (!token) return showLogin();
    let res;
    try {
      res = await fetch('/admin/ops/summary', { headers: { authorization: `Bearer ${token}` }, cache: 'no-store', credentials: 'omit' });
    } catch (e) {
      $('#status').textContent = `Gateway unreachable: ${e.message}`;
      return;
    }
    if (res.status === 401) {
      sessionStorage.removeItem(KEY);
      showLogin('That token was refused.');
      return;
    }
    if (!res.ok) {
      $('#status').textContent = `Summary failed: HTTP ${res.status}`;
      return;
    }
    showMain();
    render(await res.json());
  }

  function showLogin(msg) {
    clearInterval(timer);
    timer = null;
    $('#login').hidden = false;
    $('#main').hidden = true;
    $('#refresh').hidden = true;
    $('#signout').hidden = true;
    $('#status').textContent = msg || '';
  }

  function showMain() {
    $('#login').hidden = true;
    $('#main').hidden = false;
    $('#refresh').hidden = false;
    $('#signout').hidden = false;
    if (!timer) timer = setInterval(load, 10_000);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('#login').addEventListener('submit', (e) => {
      e.preventDefault();
      const v = $('#token').value.trim();
      $('#token').value = '';
      if (v) sessionStorage.setItem(KEY, v);
      load();
    });
    $('#refresh').addEventListener('click', load);
    $('#signout').addEventListener('click', () => {
      sessionStorage.removeItem(KEY);
      showLogin('Token forgotten.');
    });
    load();
  });
})();
