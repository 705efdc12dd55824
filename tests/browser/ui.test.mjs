// The /ui page in a real browser: headless Chromium loads it from a real
// circologd, which gets its messages over UDP like from any syslog sender.
//
//   cd tests/browser && npm ci && node --test
//
// CIRCOLOGD names the daemon binary (default: ../../target/debug/circologd),
// CHROMIUM the browser (default: /usr/bin/chromium), UI_SCREENSHOT_DIR where
// the screenshots go (default: ../../target/browser).

import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const DAEMON = path.resolve(here, process.env.CIRCOLOGD || '../../target/debug/circologd');
const BROWSER = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.resolve(here, process.env.UI_SCREENSHOT_DIR || '../../target/browser');
const TIMEOUT = 10_000;

const SEV = { emerg: 0, alert: 1, crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 };
const FAC = { user: 1, daemon: 3, auth: 4, local0: 16 };

/** A TCP port nobody listens on, whose UDP twin is free too. */
async function freePort() {
  for (;;) {
    const port = await new Promise((resolve, reject) => {
      const srv = net.createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address();
        srv.close(() => resolve(port));
      });
    });
    const udpFree = await new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Daemon {
  constructor(dir, syslogPort, queryPort, extra = []) {
    this.dir = dir;
    this.syslogPort = syslogPort;
    this.queryPort = queryPort;
    this.ctlSocket = path.join(dir, 'ctl.sock');
    this.extra = extra;
    this.output = '';
  }

  async start() {
    const args = [
      '-syslogd-socket', path.join(this.dir, 'syslog.sock'),
      '-query-socket', path.join(this.dir, 'query.sock'),
      '-ctl-socket', this.ctlSocket,
      '-syslog-addr', `127.0.0.1:${this.syslogPort}`,
      '-query-addr', `127.0.0.1:${this.queryPort}`,
      ...this.extra,
    ];
    this.proc = spawn(DAEMON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (b) => { this.output += b.toString(); };
    this.proc.stdout.on('data', keep);
    this.proc.stderr.on('data', keep);
    this.exited = new Promise((resolve) => this.proc.once('exit', resolve));
    const deadline = Date.now() + TIMEOUT;
    for (;;) {
      if (this.proc.exitCode !== null) {
        throw new Error(`circologd exited at start-up:\n${this.output}`);
      }
      try {
        const res = await fetch(`http://127.0.0.1:${this.queryPort}/?l=0`);
        await res.text();
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`circologd did not start:\n${this.output}`);
      await sleep(50);
    }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  /** A request to the control socket. */
  ctl(method, urlPath) {
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.ctlSocket, method, path: urlPath }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }
}

/** Sends RFC 5424 messages over UDP, one datagram each. */
async function send(port, messages) {
  const sock = dgram.createSocket('udp4');
  try {
    for (const m of messages) {
      const pri = (FAC[m.fac || 'user']) * 8 + SEV[m.sev || 'info'];
      const line = `<${pri}>1 ${new Date().toISOString()} ${m.host || 'web1'} ` +
        `${m.app || 'nginx'} ${m.pid || '4242'} - - ${m.msg}`;
      await new Promise((resolve, reject) => {
        sock.send(Buffer.from(line), port, '127.0.0.1', (err) => (err ? reject(err) : resolve()));
      });
    }
  } finally {
    sock.close();
  }
}

/** Sends whole syslog lines over UDP, one datagram each. */
async function sendRaw(port, lines) {
  const sock = dgram.createSocket('udp4');
  try {
    for (const line of lines) {
      await new Promise((resolve, reject) => {
        sock.send(Buffer.from(line), port, '127.0.0.1', (err) => (err ? reject(err) : resolve()));
      });
    }
  } finally {
    sock.close();
  }
}

/** Sends RFC 5424 messages over one TCP connection, newline-framed. */
async function sendTcp(port, lines) {
  await new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.end(lines.map((l) => `<14>1 - bulkhost bulk 1 - - ${l}\n`).join(''), resolve);
    });
    sock.on('error', reject);
  });
}

const rgb = (s) => (s.match(/\d+(\.\d+)?/g) || []).slice(0, 3).map(Number);

describe('GET /ui in headless Chromium', () => {
  let dir;
  let profile;
  let daemon;
  let context;
  let page;
  let pageErrors = [];
  let url;

  const rows = () => page.$$eval('#rows .entry', (rs) => rs.map((r) => ({
    seq: Number(r.dataset.seq),
    sev: r.dataset.sev,
    host: r.querySelector('.host').textContent,
    app: r.querySelector('.app').textContent,
    msg: r.querySelector('.text').textContent,
  })));
  const waitRow = (text) => page.waitForFunction(
    (t) => [...document.querySelectorAll('#rows .entry > .text')].some((c) => c.textContent.includes(t)),
    text, { timeout: TIMEOUT });
  const waitLive = () => page.waitForSelector('#status[data-state="live"]', { timeout: TIMEOUT });
  const scrollState = () => page.$eval('#scroller', (s) => ({
    top: s.scrollTop, height: s.scrollHeight, client: s.clientHeight,
  }));
  // After the page has drawn n more frames: what a reader sees by then.
  const frames = (n) => page.evaluate((k) => new Promise((resolve) => {
    const next = (i) => (i ? requestAnimationFrame(() => next(i - 1)) : resolve());
    next(k);
  }), n);
  // The row at the top of the view, and where it is.
  const topRow = () => page.$eval('#scroller', (s) => {
    const top = s.getBoundingClientRect().top + document.querySelector('.head').offsetHeight;
    const row = [...document.querySelectorAll('#rows .entry')]
      .find((r) => r.getBoundingClientRect().bottom > top + 1);
    return { seq: row.dataset.seq, y: Math.round(row.getBoundingClientRect().top) };
  });

  before(async () => {
    assert.ok(fs.existsSync(DAEMON), `no circologd at ${DAEMON}: build it or set CIRCOLOGD`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'circolog-ui-'));
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'circolog-ui-profile-'));
    fs.mkdirSync(SHOTS, { recursive: true });
    daemon = new Daemon(dir, await freePort(), await freePort());
    await daemon.start();
    url = `http://127.0.0.1:${daemon.queryPort}/ui`;
    context = await chromium.launchPersistentContext(profile, {
      executablePath: BROWSER,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      viewport: { width: 1280, height: 720 },
      colorScheme: 'light',
      // Not the machine's zone: the page must show times in the browser's.
      timezoneId: 'Europe/Rome',
    });
    page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e));
    page.on('dialog', (d) => { pageErrors.push(new Error(`dialog: ${d.message()}`)); d.dismiss(); });
  });

  // Every case starts from the same page state, whatever the case before
  // it did or where it failed: no page open, the default window and
  // colours. Each sends the messages it looks at and opens its own view;
  // a case that stops or pauses the daemon starts or resumes it itself.
  beforeEach(async () => {
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto('about:blank');
  });

  after(async () => {
    try {
      if (context) await context.close();
    } finally {
      if (daemon) await daemon.stop();
      for (const d of [dir, profile]) {
        if (d) fs.rmSync(d, { recursive: true, force: true });
      }
    }
  });

  it('serves the page as one self-contained document', async () => {
    const res = await fetch(url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type'), /^text\/html/);
    const html = await res.text();
    assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)=/i, 'no external assets');
  });

  it('shows the backlog with severity colours', async () => {
    assert.equal((await daemon.ctl('POST', '/logs/clear')).status, 200);
    await send(daemon.syslogPort, [
      { sev: 'info', msg: 'GET /index.html 200', app: 'nginx', pid: '812' },
      { sev: 'debug', msg: 'cache lookup for /index.html: hit', app: 'nginx', pid: '812' },
      { sev: 'notice', msg: 'configuration reloaded', app: 'nginx', pid: '1' },
      { sev: 'warning', msg: 'disk /var is 91% full', host: 'db1', app: 'smartd', pid: '377', fac: 'daemon' },
      { sev: 'err', msg: 'connect() to 10.0.0.7:5432 failed (111: Connection refused)', app: 'nginx', pid: '812' },
      { sev: 'crit', msg: 'temperature above threshold, cpu clock throttled', host: 'db1', app: 'kernel', pid: '-', fac: 'user' },
      { sev: 'info', msg: 'Accepted publickey for alice from 192.0.2.10 port 51122 ssh2', host: 'gw', app: 'sshd', pid: '9931', fac: 'auth' },
      { sev: 'info', msg: '<img src=x onerror="window.__pwned=1"> & <b>not bold</b>', app: 'evil', pid: '6' },
    ]);
    await page.goto(url);
    await waitLive();
    await waitRow('not bold');

    const all = await rows();
    assert.equal(all.length, 8);
    assert.deepEqual(all.map((r) => r.sev),
      ['info', 'debug', 'notice', 'warning', 'err', 'crit', 'info', 'info']);
    assert.equal(all[0].app, 'nginx[812]');
    assert.equal(all[0].host, 'web1');
    assert.equal(all[5].app, 'kernel', 'a NILVALUE pid is not shown');

    // Message text is text, never markup.
    assert.equal(all[7].msg, '<img src=x onerror="window.__pwned=1"> & <b>not bold</b>');
    assert.equal(await page.$$eval('#rows img, #rows b', (e) => e.length), 0);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);

    const colour = (sev) => page.$eval(`#rows .sev-${sev} > .sev`, (c) => getComputedStyle(c).color);
    const body = await page.$eval('body', (b) => getComputedStyle(b).color);
    const info = await colour('info');
    const err = await colour('err');
    const crit = await colour('crit');
    const warning = await colour('warning');
    const notice = await colour('notice');
    const debug = await colour('debug');
    assert.equal(info, body, 'info is in the default colour');
    assert.notEqual(err, info);
    const [er, eg, eb] = rgb(err);
    assert.ok(er > 150 && er > eg * 2 && er > eb * 2, `err is red, not ${err}`);
    const [cr, cg, cb] = rgb(crit);
    assert.ok(cr > cg * 2 && cr > cb * 2, `crit is red, not ${crit}`);
    assert.equal(await page.$eval('#rows .sev-crit > .sev', (c) => getComputedStyle(c).fontWeight), '700');
    const [wr, wg, wb] = rgb(warning);
    assert.ok(wr > wb * 2 && wg > wb, `warning is amber, not ${warning}`);
    const [nr, , nb] = rgb(notice);
    assert.ok(nb > nr * 2, `notice is blue, not ${notice}`);
    const [dr, dg, db] = rgb(debug);
    assert.ok(Math.max(dr, dg, db) - Math.min(dr, dg, db) < 40 && dr > 80, `debug is grey, not ${debug}`);
    assert.equal(new Set([info, err, warning, notice, debug]).size, 5);
  });

  it('shows new messages live', async () => {
    assert.equal((await daemon.ctl('POST', '/logs/clear')).status, 200);
    await send(daemon.syslogPort, [
      { sev: 'info', msg: 'GET /index.html 200', app: 'nginx', pid: '812' },
      { sev: 'notice', msg: 'configuration reloaded', app: 'nginx', pid: '1' },
      { sev: 'warning', msg: 'disk /var is 91% full', host: 'db1', app: 'smartd', pid: '377', fac: 'daemon' },
    ]);
    await page.goto(url);
    await waitLive();
    await waitRow('disk /var is 91% full');
    await send(daemon.syslogPort, [
      { sev: 'err', msg: 'upstream timed out (110: Connection timed out) while reading response header', app: 'nginx', pid: '812' },
      { sev: 'info', msg: 'Started Daily apt upgrade and clean activities.', app: 'systemd', pid: '1', fac: 'daemon' },
    ]);
    await waitRow('Daily apt upgrade');
    const all = await rows();
    assert.equal(all.length, 5);
    assert.ok(all.every((r, i) => i === 0 || r.seq > all[i - 1].seq), 'oldest first, no duplicates');
    await page.waitForFunction(() => document.getElementById('counts').textContent.startsWith('5 shown'));
  });

  it('announces a cleared buffer inline', async () => {
    await send(daemon.syslogPort, [
      { sev: 'info', msg: 'Accepted publickey for alice from 192.0.2.10 port 51122 ssh2', host: 'gw', app: 'sshd', pid: '9931', fac: 'auth' },
      { sev: 'err', msg: 'connect() to 10.0.0.7:5432 failed (111: Connection refused)', app: 'nginx', pid: '812' },
    ]);
    await page.goto(url);
    await waitLive();
    await waitRow('Connection refused');
    const res = await daemon.ctl('POST', '/logs/clear');
    assert.equal(res.status, 200);
    await page.waitForSelector('#rows .notice[data-notice="cleared"]', { timeout: TIMEOUT });
    const text = await page.$eval('#rows .notice[data-notice="cleared"]', (row) => row.textContent);
    assert.match(text, /cleared/);
    // The page stays connected and keeps following.
    await send(daemon.syslogPort, [
      { sev: 'warning', msg: 'worker process 913 exited on signal 9', app: 'nginx', pid: '812' },
      { sev: 'alert', msg: 'RAID array md0 degraded', host: 'db1', app: 'mdadm', pid: '201', fac: 'daemon' },
    ]);
    await waitRow('md0 degraded');
    assert.equal(await page.$eval('#status', (s) => s.dataset.state), 'live');

    await page.screenshot({ path: path.join(SHOTS, 'ui.png') });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: path.join(SHOTS, 'ui-dark.png') });
  });

  it('filters by severity through the query parameters', async () => {
    assert.equal((await daemon.ctl('POST', '/logs/clear')).status, 200);
    await send(daemon.syslogPort, [
      { sev: 'warning', msg: 'worker process 913 exited on signal 9', app: 'nginx', pid: '812' },
      { sev: 'alert', msg: 'RAID array md0 degraded', host: 'db1', app: 'mdadm', pid: '201', fac: 'daemon' },
    ]);
    await page.goto(url);
    await waitLive();
    await waitRow('md0 degraded');
    await page.selectOption('#f-sev', 'err');
    await page.waitForFunction(() => location.search === '?sev=err');
    await waitLive();
    await waitRow('md0 degraded');
    let all = await rows();
    assert.deepEqual(all.map((r) => r.msg), ['RAID array md0 degraded']);

    // Live messages are filtered by the daemon too.
    await send(daemon.syslogPort, [
      { sev: 'info', msg: 'ignored by the filter', app: 'cron', pid: '77' },
      { sev: 'emerg', msg: 'Kernel panic - not syncing: Fatal exception', host: 'db1', app: 'kernel', pid: '-' },
    ]);
    await waitRow('Kernel panic');
    all = await rows();
    assert.deepEqual(all.map((r) => r.sev), ['alert', 'emerg']);

    // A severity by number or alias in the address works too.
    await page.goto(`${url}?sev=error`);
    await waitLive();
    await waitRow('Kernel panic');
    assert.equal(await page.inputValue('#f-sev'), 'error');
    assert.deepEqual((await rows()).map((r) => r.sev), ['alert', 'emerg']);
  });

  it('filters by text, host and app, and keeps the filters in the address', async () => {
    await page.goto(url);
    await waitLive();
    await page.fill('#f-grep', 'nginx-marker');
    await page.press('#f-grep', 'Enter');
    await send(daemon.syslogPort, [
      { sev: 'info', msg: 'one nginx-marker here', app: 'nginx', pid: '812' },
      { sev: 'info', msg: 'no marker', app: 'nginx', pid: '812' },
      { sev: 'err', msg: 'another nginx-marker there', host: 'web2', app: 'nginx', pid: '813' },
    ]);
    await waitRow('another nginx-marker');
    let all = await rows();
    assert.deepEqual(all.map((r) => r.msg), ['one nginx-marker here', 'another nginx-marker there']);

    await page.fill('#f-host', 'web2');
    await page.press('#f-host', 'Enter');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('host') === 'web2');
    await waitLive();
    await page.waitForFunction(() => document.querySelectorAll('#rows .entry').length === 1);
    all = await rows();
    assert.equal(all[0].host, 'web2');

    // A reload keeps the filters.
    await page.reload();
    await waitLive();
    await waitRow('another nginx-marker');
    assert.equal(await page.inputValue('#f-grep'), 'nginx-marker');
    assert.equal(await page.inputValue('#f-host'), 'web2');
    assert.equal((await rows()).length, 1);

    // A filter the daemon refuses is explained, not retried.
    await page.fill('#f-fac', 'nosuchfacility');
    await page.press('#f-fac', 'Enter');
    await page.waitForSelector('#status[data-state="error"]', { timeout: TIMEOUT });
    assert.match(await page.textContent('#filter-error'), /nosuchfacility/);

    await page.click('#reset-filters');
    await waitLive();
    await waitRow('no marker');
    assert.equal(await page.textContent('#filter-error'), '');
    assert.equal(await page.evaluate(() => location.search), '');
  });

  it('shows structured data on a line of its own, and says the time zone', async () => {
    await sendRaw(daemon.syslogPort, [
      '<14>1 2026-01-08T19:46:03.295Z web1 sdapp 7 - [origin@1 ip="192.0.2.1" ip="192.0.2.2"][meta@2 seq="9"] the message itself',
    ]);
    await page.goto(`${url}?app=sdapp`);
    await waitLive();
    await waitRow('the message itself');
    const row = await page.$eval('#rows .entry', (r) => {
      const box = (c) => r.querySelector(c).getBoundingClientRect();
      return {
        text: r.querySelector('.text').textContent,
        sd: r.querySelector('.sd')?.textContent,
        time: r.querySelector('.time').textContent,
        textBottom: box('.text').bottom,
        sdTop: box('.sd').top,
      };
    });
    assert.equal(row.text, 'the message itself', 'the message is not behind the structured data');
    assert.match(row.sd, /\[origin@1\].*ip=192\.0\.2\.1.*ip=192\.0\.2\.2.*\[meta@2\].*seq=9/);
    assert.ok(row.sdTop >= row.textBottom - 1, 'structured data is under the message');
    // 19:46 UTC is 20:46 in Rome in January, whatever zone the machine has.
    assert.equal(row.time, 'Jan 08 20:46:03.295');
    assert.match(await page.textContent('#h-time'), /\(Europe\/Rome, UTC\+0[12]:00\)/);
  });

  it('keeps the message in view in a 420 px window', async () => {
    await send(daemon.syslogPort, [
      { sev: 'info', msg: 'GET /index.html 200', app: 'nginx', pid: '812', host: 'narrow' },
      { sev: 'debug', msg: 'cache lookup for /index.html: hit', app: 'nginx', pid: '812', host: 'narrow' },
      { sev: 'warning', msg: 'disk /var is 91% full', app: 'smartd', pid: '377', fac: 'daemon', host: 'narrow' },
      { sev: 'err', msg: 'connect() to 10.0.0.7:5432 failed (111: Connection refused)', app: 'nginx', pid: '812', host: 'narrow' },
      { sev: 'crit', msg: 'temperature above threshold, cpu clock throttled', app: 'kernel', pid: '-', host: 'narrow' },
      { sev: 'info', msg: 'Accepted publickey for alice from 192.0.2.10 port 51122 ssh2', app: 'sshd', pid: '9931', fac: 'auth', host: 'narrow' },
    ]);
    await sendRaw(daemon.syslogPort, [
      '<14>1 2026-01-08T19:46:03.295Z narrow narrowsd 7 - [origin@1 ip="192.0.2.1" ip="192.0.2.2"][meta@2 seq="9"] a narrow message with structured data',
    ]);
    await page.setViewportSize({ width: 420, height: 800 });
    try {
      await page.goto(`${url}?host=narrow`);
      await waitLive();
      await waitRow('a narrow message with structured data');
      const geo = await page.$$eval('#rows .entry', (rs) => {
        const s = document.getElementById('scroller');
        return {
          texts: rs.map((r) => {
            const t = r.querySelector('.text').getBoundingClientRect();
            return { left: t.left, right: t.right, width: t.width };
          }),
          scrollWidth: s.scrollWidth,
          clientWidth: s.clientWidth,
        };
      });
      assert.ok(geo.texts.length > 5);
      for (const t of geo.texts) {
        assert.ok(t.left >= 0 && t.right <= 420, `the message is in the window: ${JSON.stringify(t)}`);
        assert.ok(t.width > 300, `the message has the width: ${JSON.stringify(t)}`);
      }
      assert.ok(geo.scrollWidth <= geo.clientWidth, 'nothing to scroll sideways to');
      await page.screenshot({ path: path.join(SHOTS, 'ui-420.png') });
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
    }
  });

  it('follows the bottom, and pause-scroll keeps the view still', async () => {
    const burst = (from, n) => Array.from({ length: n }, (_, i) => ({
      sev: i % 7 === 0 ? 'warning' : 'info', msg: `request ${from + i} served in ${(i * 37) % 400} ms`, app: 'api', pid: '5000',
    }));
    // The view is at the bottom, the newest line in it.
    const following = async (what) => {
      const at = await page.$eval('#scroller', (s) => {
        const view = s.getBoundingClientRect();
        const newest = [...document.querySelectorAll('#rows .entry')].at(-1).getBoundingClientRect();
        return {
          gap: s.scrollHeight - s.scrollTop - s.clientHeight,
          newest: [newest.top, newest.bottom],
          view: [view.top, view.bottom],
        };
      });
      assert.ok(at.gap < 2 && at.newest[0] >= at.view[0] && at.newest[1] <= at.view[1] + 1,
        `${what}: ${JSON.stringify(at)}`);
    };
    // Lines that were there before the page opened arrive all at once, in
    // a block of rows the page lays out after it scrolled to the bottom.
    await send(daemon.syslogPort, burst(0, 60));
    await page.goto(`${url}?app=api`);
    await waitLive();
    await waitRow('request 59 served');
    await frames(4);
    await following('the backlog shows its newest line');

    await page.click('#pause');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
    const beforeTop = await topRow();
    // Enough to start a second block of rows, below the view.
    await send(daemon.syslogPort, burst(60, 100));
    await waitRow('request 159 served');
    await frames(4);
    assert.deepEqual(await topRow(), beforeTop, 'the view did not move');
    const during = await scrollState();
    assert.ok(during.height - during.top - during.client > 200, 'the new rows are below the view');
    await page.waitForSelector('#jump:not([hidden])');
    assert.match(await page.textContent('#jump'), /100 new messages/);
    await page.screenshot({ path: path.join(SHOTS, 'ui-paused.png') });

    await page.click('#pause');
    assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'false');
    await frames(4);
    await following('back at the bottom');
    assert.ok(await page.$eval('#jump', (b) => b.hidden));
    // Live lines, enough to start a third block: the view follows them.
    await send(daemon.syslogPort, burst(160, 50));
    await waitRow('request 209 served');
    await frames(4);
    await following('the view follows new lines');
  });

  it('keeps at most 5000 rows, dropping the oldest', async () => {
    await page.goto(`${url}?app=bulk`);
    await waitLive();
    const n = 5300;
    await sendTcp(daemon.syslogPort, Array.from({ length: n }, (_, i) => `bulk line ${i}`));
    await page.waitForFunction(
      (last) => document.querySelector('#rows .chunk:last-child > .entry:last-child > .text')?.textContent === last,
      `bulk line ${n - 1}`, { timeout: TIMEOUT });
    const count = await page.$$eval('#rows .row', (r) => r.length);
    assert.equal(count, 5000);
    assert.equal(await page.textContent('#rows .chunk:first-child > .entry:first-child > .text'), `bulk line ${n - 5000}`);
    await page.waitForFunction(() => document.getElementById('counts').textContent === '5000 shown · 5300 received');
    await frames(4);
    const s = await scrollState();
    assert.ok(s.height - s.top - s.client < 2, 'still following the bottom');
  });

  it('shows skipped notices, and resumes after its seq when the connection drops', async () => {
    // A fresh tab whose websocket goes through the test, which can add a
    // notice of its own and cut the connection as a network would.
    const tab = await context.newPage();
    tab.on('pageerror', (e) => pageErrors.push(e));
    const opened = [];
    await tab.routeWebSocket(/\/ws\?/, (ws) => {
      opened.push({ url: new URL(ws.url()), ws, server: ws.connectToServer() });
    });
    try {
      const tabRows = () => tab.$$eval('#rows .entry', (rs) => rs.map((r) => ({
        seq: Number(r.dataset.seq), msg: r.querySelector('.text').textContent,
      })));
      const waitTabRows = (n) => tab.waitForFunction(
        (k) => document.querySelectorAll('#rows .entry').length === k, n, { timeout: TIMEOUT });

      await send(daemon.syslogPort, [1, 2, 3].map((i) => ({ msg: `resume ${i}`, app: 'resumer' })));
      await tab.goto(`${url}?app=resumer`);
      await tab.waitForSelector('#status[data-state="live"]', { timeout: TIMEOUT });
      await waitTabRows(3);
      assert.equal(opened.length, 1);
      assert.equal(opened[0].url.searchParams.get('app'), 'resumer');
      assert.equal(opened[0].url.searchParams.get('fmt'), 'json');
      assert.equal(opened[0].url.searchParams.get('since'), null);

      const epoch = Number((await fetch(`http://127.0.0.1:${daemon.queryPort}/?l=0`)).headers.get('x-circolog-epoch'));
      opened[0].ws.send(JSON.stringify({ skipped: 7, epoch }));
      await tab.waitForSelector('#rows .notice[data-notice="skipped"]', { timeout: TIMEOUT });
      assert.match(await tab.textContent('#rows .notice[data-notice="skipped"]'), /7 messages were skipped/);

      const before = await tabRows();
      opened[0].server.close();
      await tab.waitForSelector('#rows .notice[data-notice="disconnected"]', { timeout: TIMEOUT });
      await send(daemon.syslogPort, [4, 5].map((i) => ({ msg: `resume ${i}`, app: 'resumer' })));
      await waitTabRows(5);
      assert.equal(opened.length, 2);
      assert.equal(opened[1].url.searchParams.get('since'), String(before.at(-1).seq));
      assert.equal(opened[1].url.searchParams.get('app'), 'resumer');
      const after = await tabRows();
      assert.deepEqual(after.map((r) => r.msg), [1, 2, 3, 4, 5].map((i) => `resume ${i}`));
      assert.equal(await tab.$$eval('#rows .notice[data-notice="restart"]', (e) => e.length), 0);
    } finally {
      await tab.close();
    }
  });

  it('reconnects after a restart and starts over in the new epoch', async () => {
    await send(daemon.syslogPort, [{ sev: 'info', msg: 'before the restart', app: 'restarter', pid: '1' }]);
    await page.goto(`${url}?app=restarter`);
    await waitLive();
    await waitRow('before the restart');
    await daemon.stop();
    try {
      await page.waitForSelector('#status[data-state="waiting"]', { timeout: TIMEOUT });
      await page.waitForSelector('#rows .notice[data-notice="disconnected"]', { timeout: TIMEOUT });
    } finally {
      await daemon.start();
    }
    // Seqs start again in the new daemon: the page must not wait for the old cursor.
    await send(daemon.syslogPort, [{ sev: 'notice', msg: 'back after the restart', app: 'restarter', pid: '1' }]);
    await page.waitForSelector('#status[data-state="live"]', { timeout: 45_000 });
    await waitRow('back after the restart');
    await page.waitForSelector('#rows .notice[data-notice="restart"]');
    const last = (await rows()).at(-1);
    assert.equal(last.msg, 'back after the restart');
  });

  // The chart's bars: their start and total, from the page.
  const bars = () => page.$$eval('#chart .bar', (bs) => bs.map((b) => ({
    start: b.dataset.start, total: Number(b.dataset.total),
  })));
  const chartTotal = (n) => page.waitForFunction(
    (k) => [...document.querySelectorAll('#chart .bar')].reduce((t, b) => t + Number(b.dataset.total), 0) === k,
    n, { timeout: TIMEOUT });
  const sevs = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'];

  it('charts the volume by severity, and its bars add up to what was sent', async () => {
    assert.equal((await daemon.ctl('POST', '/logs/clear')).status, 200);
    const sent = Array.from({ length: 40 }, (_, i) => ({
      sev: sevs[(i * 3) % 8], msg: `chart message ${i}`, app: 'chart', host: i % 2 ? 'web1' : 'web2',
    }));
    await send(daemon.syslogPort, sent);
    await page.goto(`${url}?app=chart`);
    await waitLive();
    await waitRow('chart message 39');
    await chartTotal(40);
    const b = await bars();
    assert.ok(b.length >= 10, `a bar per bucket: ${b.length}`);
    // Stacked by severity: as many err rectangles as bars with an err.
    const perSev = await page.$$eval('#chart .bar rect:not(.bg)', (rs) => rs.map((r) => r.getAttribute('class')));
    assert.ok(perSev.includes('s3') && perSev.includes('s6'), `err and info are drawn: ${perSev}`);
    // The facility has a column of its own.
    assert.equal(await page.textContent('#rows .entry .fac'), 'user');
    // Live: a new message shows in the chart without a reload.
    await send(daemon.syslogPort, [{ sev: 'crit', msg: 'chart message 40', app: 'chart' }]);
    await chartTotal(41);
    await page.screenshot({ path: path.join(SHOTS, 'ui-chart.png') });
  });

  it('a drag across the chart sets from and until in the address, and the list follows', async () => {
    await send(daemon.syslogPort, Array.from({ length: 10 }, (_, i) => ({ msg: `early ${i}`, app: 'drag' })));
    await sleep(2000);
    await send(daemon.syslogPort, Array.from({ length: 10 }, (_, i) => ({ sev: 'warning', msg: `late ${i}`, app: 'drag' })));
    await page.goto(`${url}?app=drag`);
    await waitLive();
    await waitRow('late 9');
    await chartTotal(20);
    // From the chart's left end (the oldest message in the buffer, which
    // may be this case's first), across the early bars, to the middle of
    // the quiet gap.
    const left = await page.$eval('#chart', (c) => c.getBoundingClientRect().left);
    const geo = await page.$$eval('#chart .bar', (bs) => bs.map((b) => {
      const r = b.querySelector('.bg').getBoundingClientRect();
      return { left: r.left, right: r.right, y: r.top + r.height / 2, total: Number(b.dataset.total) };
    }));
    const full = geo.map((g, i) => (g.total ? i : -1)).filter((i) => i >= 0);
    // The last gap between bars: the early ones before it, the late after.
    const j = full.findLastIndex((i, k) => k > 0 && i - full[k - 1] >= 2);
    assert.ok(j > 0, `a gap in the bars: ${JSON.stringify(full)}`);
    const [lastEarly, firstLate] = [full[j - 1], full[j]];
    const x0 = left;
    const x1 = (geo[lastEarly].right + geo[firstLate].left) / 2;
    await page.mouse.move(x0, geo[0].y);
    await page.mouse.down();
    await page.mouse.move((x0 + x1) / 2, geo[0].y, { steps: 4 });
    await page.mouse.move(x1, geo[0].y, { steps: 4 });
    await page.mouse.up();
    await page.waitForFunction(() => {
      const q = new URLSearchParams(location.search);
      return q.get('from') && q.get('until') && q.get('app') === 'drag';
    }, null, { timeout: TIMEOUT });
    await waitLive();
    await page.waitForFunction(() => document.querySelectorAll('#rows .entry').length === 10, null, { timeout: TIMEOUT });
    assert.deepEqual((await rows()).map((r) => r.msg), Array.from({ length: 10 }, (_, i) => `early ${i}`));
    assert.match(await page.inputValue('#f-from'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await chartTotal(10);

    // A click on a bar zooms to it.
    const late = await page.$$eval('#chart .bar', (bs) => {
      const b = bs.findLast((x) => Number(x.dataset.total) > 0);
      const r = b.querySelector('.bg').getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2, start: b.dataset.start };
    });
    await page.mouse.click(late.x, late.y);
    await page.waitForFunction((s) => new URLSearchParams(location.search).get('from') === s, late.start, { timeout: TIMEOUT });
    await waitLive();
    // The zoomed chart adds up to the lines shown: both are read in the
    // page, so neither is taken while the other is still loading.
    await page.waitForFunction(() => {
      const shown = document.querySelectorAll('#rows .entry').length;
      const total = [...document.querySelectorAll('#chart .bar')]
        .reduce((t, b) => t + Number(b.dataset.total), 0);
      return shown > 0 && shown === total;
    }, null, { timeout: TIMEOUT });

    // Escape on the chart forgets the range.
    await page.focus('#chart');
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !new URLSearchParams(location.search).get('from'), null, { timeout: TIMEOUT });
    await waitLive();
    await waitRow('late 9');
    await waitRow('early 0');
  });

  it('a click on an app, a host or a severity in a line filters by it', async () => {
    await send(daemon.syslogPort, [
      ...Array.from({ length: 10 }, (_, i) => ({ msg: `pick early ${i}`, app: 'picker', host: 'pick1' })),
      ...Array.from({ length: 10 }, (_, i) => ({ sev: 'warning', msg: `pick late ${i}`, app: 'picker', host: 'pick2' })),
      ...Array.from({ length: 5 }, (_, i) => ({ msg: `pick other ${i}`, app: 'other', host: 'pick1' })),
    ]);
    await page.goto(`${url}?grep=pick`);
    await waitLive();
    await waitRow('pick other 4');
    assert.equal((await rows()).length, 25);
    await page.click('#rows .entry:has(.text:text-is("pick early 3")) .app');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('app') === 'picker', null, { timeout: TIMEOUT });
    await waitLive();
    await page.waitForFunction(() => document.querySelectorAll('#rows .entry').length === 20, null, { timeout: TIMEOUT });
    let all = await rows();
    assert.ok(all.every((r) => r.app === 'picker[4242]'), JSON.stringify(all.slice(0, 3)));
    assert.equal(await page.inputValue('#f-app'), 'picker');
    await page.click('#rows .entry:has(.text:text-is("pick late 0")) .sev');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('sev') === 'warning', null, { timeout: TIMEOUT });
    await waitLive();
    await page.waitForFunction(() => document.querySelectorAll('#rows .entry').length === 10, null, { timeout: TIMEOUT });
    all = await rows();
    assert.ok(all.every((r) => r.sev === 'warning'));
    await page.goto(`${url}?grep=pick`);
    await waitLive();
    await waitRow('pick other 1');
    await page.click('#rows .entry:has(.text:text-is("pick other 1")) .host');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('host') === 'pick1', null, { timeout: TIMEOUT });
    await waitLive();
    await page.waitForFunction(() => document.querySelectorAll('#rows .entry').length === 15, null, { timeout: TIMEOUT });
    assert.ok((await rows()).every((r) => r.host === 'pick1'));
  });

  it('a unit filter is sent to the daemon, and a refusal is shown', async () => {
    await page.goto(url);
    await waitLive();
    await page.fill('#f-unit', 'nginx');
    await page.press('#f-unit', 'Enter');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('unit') === 'nginx', null, { timeout: TIMEOUT });
    const direct = await fetch(`http://127.0.0.1:${daemon.queryPort}/?l=0&unit=nginx`);
    const reason = (await direct.text()).trim();
    if (direct.status === 400) {
      await page.waitForSelector('#status[data-state="error"]', { timeout: TIMEOUT });
      assert.equal(await page.textContent('#filter-error'), reason);
      assert.ok(await page.isVisible('#filter-error'));
    } else {
      await waitLive();
      assert.equal(await page.textContent('#filter-error'), '');
    }
    await page.click('#reset-filters');
    await waitLive();
  });

  it('shows in the header that the daemon is paused, how, and until when', async () => {
    await page.goto(url);
    await waitLive();
    const res = await daemon.ctl('POST', '/pause?for=10m');
    assert.equal(res.status, 200);
    try {
      await page.waitForSelector('#status[data-state="paused"]', { timeout: TIMEOUT });
      await page.waitForFunction(() => /^paused \(control API\) until \d\d:\d\d:\d\d$/.test(document.getElementById('status').textContent),
        null, { timeout: TIMEOUT });
      const title = await page.getAttribute('#status', 'title');
      assert.match(title, /Paused through the control API/);
      assert.match(title, /resumes by itself/);
      await page.waitForSelector('#rows .notice[data-notice="paused"]', { timeout: TIMEOUT });
      await page.screenshot({ path: path.join(SHOTS, 'ui-daemon-paused.png') });
      // A page opened while the daemon is paused knows it too.
      await page.reload();
      await page.waitForSelector('#status[data-state="paused"]', { timeout: TIMEOUT });
      await page.waitForFunction(() => /^paused \(control API\) until/.test(document.getElementById('status').textContent),
        null, { timeout: TIMEOUT });
    } finally {
      assert.equal((await daemon.ctl('POST', '/resume')).status, 200);
    }
    await waitLive();
    assert.equal(await page.textContent('#status'), 'live');
  });

  it('lists the snapshots and opens one in the same view', async () => {
    await send(daemon.syslogPort, Array.from({ length: 20 }, (_, i) => ({ msg: `kept ${i}`, app: 'snapper' })));
    await page.goto(`${url}?app=snapper`);
    await waitLive();
    await waitRow('kept 19');
    const taken = JSON.parse((await daemon.ctl('POST', '/snapshot?note=incident')).body);
    const id = String(taken.id);
    await page.waitForSelector(`#source option[value="${id}"]`, { state: 'attached', timeout: TIMEOUT });
    assert.match(await page.textContent(`#source option[value="${id}"]`), /incident/);
    await send(daemon.syslogPort, [{ msg: 'after the snapshot', app: 'snapper' }]);
    await waitRow('after the snapshot');
    await page.selectOption('#source', id);
    await page.waitForSelector('#status[data-state="snapshot"]', { timeout: TIMEOUT });
    await page.waitForFunction(() => document.querySelectorAll('#rows .entry').length === 20, null, { timeout: TIMEOUT });
    assert.ok(!(await rows()).some((r) => r.msg === 'after the snapshot'), 'the snapshot, not the ring');
    assert.equal(new URL(page.url()).searchParams.get('snapshot'), id);
    await chartTotal(20);
    await page.screenshot({ path: path.join(SHOTS, 'ui-snapshot.png') });
    // The address opens it again.
    await page.reload();
    await page.waitForSelector('#status[data-state="snapshot"]', { timeout: TIMEOUT });
    assert.equal(await page.inputValue('#source'), id);
    await page.selectOption('#source', '');
    await waitLive();
    await waitRow('after the snapshot');
    assert.equal(new URL(page.url()).searchParams.get('snapshot'), null);
  });

  it('folds the filters away at 400 px', async () => {
    await page.setViewportSize({ width: 400, height: 800 });
    try {
      await send(daemon.syslogPort, [{ msg: 'in a narrow window', app: 'folded' }]);
      await page.goto(`${url}?app=folded`);
      await waitLive();
      await waitRow('in a narrow window');
      assert.equal(await page.isVisible('#filters'), false, 'folded');
      assert.equal(await page.isVisible('#toggle-filters'), true);
      assert.equal(await page.textContent('#toggle-filters'), 'Filters (1)');
      assert.ok(await page.isVisible('#chart'));
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 400, `nothing to scroll sideways to: ${wide}`);
      await page.screenshot({ path: path.join(SHOTS, 'ui-400.png') });
      await page.click('#toggle-filters');
      assert.equal(await page.isVisible('#filters'), true);
      assert.equal(await page.getAttribute('#toggle-filters', 'aria-expanded'), 'true');
      assert.equal(await page.inputValue('#f-app'), 'folded');
      await page.screenshot({ path: path.join(SHOTS, 'ui-400-filters.png') });
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
    }
  });

  it('keeps up with 2,000 lines a second for 30 s, its rows and heap bounded', async () => {
    await page.goto(`${url}?app=flood`);
    await waitLive();
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    };
    const sock = await new Promise((resolve, reject) => {
      const c = net.connect(daemon.syslogPort, '127.0.0.1', () => resolve(c));
      c.on('error', reject);
    });
    const perTick = 200; // every 100 ms
    let sent = 0;
    const samples = [];
    const t0 = Date.now();
    try {
      for (let tick = 0; tick < 300; tick++) {
        let chunk = '';
        for (let k = 0; k < perTick; k++) {
          chunk += `<14>1 - floodhost flood 1 - - flood line ${sent} with some text to make it a realistic length\n`;
          sent++;
        }
        sock.write(chunk);
        if (tick === 100 || tick === 299) {
          samples.push({ rows: await page.$$eval('#rows .row', (r) => r.length), heap: await heap() });
        }
        const due = t0 + (tick + 1) * 100;
        await sleep(Math.max(0, due - Date.now()));
      }
    } finally {
      sock.end();
    }
    const lastRow = () => page.evaluate(() => ({
      last: document.querySelector('#rows .chunk:last-child > .entry:last-child > .text')?.textContent,
      counts: document.getElementById('counts').textContent,
      status: document.getElementById('status').textContent,
    }));
    await page.waitForFunction((last) => document.querySelector('#rows .chunk:last-child > .entry:last-child > .text')?.textContent.startsWith(last),
      `flood line ${sent - 1} `, { timeout: 30_000 }).catch(async (e) => {
      const stored = await (await fetch(`http://127.0.0.1:${daemon.queryPort}/?app=flood&l=1`)).text();
      throw new Error(`the page did not show the last line sent (${sent - 1}): ${JSON.stringify(await lastRow())}; the daemon's last: ${stored}: ${e}`);
    });
    const end = { rows: await page.$$eval('#rows .row', (r) => r.length), heap: await heap() };
    samples.push(end);
    for (const s of samples) assert.ok(s.rows <= 5000, `rows bounded: ${JSON.stringify(samples)}`);
    assert.equal(end.rows, 5000);
    const mb = (n) => (n / 1048576).toFixed(1);
    console.log(`# heap after 10 s ${mb(samples[0].heap)} MB, after 30 s ${mb(samples[1].heap)} MB, at the end ${mb(end.heap)} MB`);
    assert.ok(end.heap < samples[0].heap * 1.5 + 4 * 1048576,
      `the heap does not grow with the lines: ${samples.map((s) => mb(s.heap)).join(', ')} MB`);
    assert.ok(end.heap < 128 * 1048576, `${mb(end.heap)} MB`);
    await page.waitForFunction(() => document.getElementById('counts').textContent.startsWith('5000 shown'));
    await cdp.detach();
  });

  it('raised no script errors', () => {
    assert.deepEqual(pageErrors.map(String), []);
  });
});
