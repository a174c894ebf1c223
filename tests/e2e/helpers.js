// Shared by the browser tests: the browser, the demo links printed by the
// server (run.sh passes them in), screenshots at desktop and phone widths,
// and small waiting helpers (playwright-core has no `expect`).

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.CK_BASE_URL;
if (!BASE) throw new Error('CK_BASE_URL is not set: run these tests with tests/e2e/run.sh');

/** @type {{role: string, name: string, link: string}[]} */
export const LINKS = JSON.parse(process.env.CK_LINKS || '[]');
const SHOTS = process.env.CK_SCREENSHOTS || join(import.meta.dirname, 'screenshots');
mkdirSync(SHOTS, { recursive: true });

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };

/** The demo link of the seat with this name. */
export function linkOf(name) {
  const found = LINKS.find((l) => l.name === name);
  if (!found) throw new Error(`no demo link for ${name} in ${JSON.stringify(LINKS.map((l) => l.name))}`);
  return found.link;
}

/**
 * Makes a room of its own through the program API (run.sh configures the
 * key). Rooms made so start `scheduled`: the keeper opens them.
 * @param {object} body  as `POST /api/v1/rooms` takes it
 * @returns {Promise<{room_id: string, invitations: {seat: number, role: string, link: string}[]}>}
 */
export async function createRoom(body) {
  const response = await fetch(`${BASE}/api/v1/rooms`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${process.env.CK_API_KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`create room: ${response.status} ${text}`);
  return JSON.parse(text);
}

/** The link of a seat in a room made by {@link createRoom}. */
export function seatLink(room, seat) {
  const found = room.invitations.find((i) => i.seat === seat);
  if (!found) throw new Error(`no seat ${seat}`);
  return found.link;
}

/**
 * Chromium; `executablePath` runs another (a wrapper that starts it in a
 * network namespace), `extra` adds flags.
 */
export async function launch(executablePath = process.env.CHROMIUM || '/usr/bin/chromium', extra = []) {
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extra,
    ],
  });
}

/**
 * A person in their own browser context (own storage, own socket). Console
 * errors and page errors are collected: a CSP violation shows up there.
 * @param {import('playwright-core').Browser} browser
 * @param {string} label
 */
export async function person(browser, label, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  // Counts the peer connections a page makes: none before the circle.
  await context.addInitScript(() => {
    const Original = window.RTCPeerConnection;
    if (typeof Original !== 'function') return;
    let made = 0;
    window.RTCPeerConnection = class extends Original {
      constructor(...args) {
        super(...args);
        made += 1;
      }
    };
    Object.defineProperty(window, '__peerConnectionsMade', { get: () => made });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  return { page, context, problems: watchProblems(page, label), label };
}

/**
 * Collects a page's console errors and page errors (a CSP violation shows up
 * there). Works with a playwright page and a puppeteer one alike.
 * @returns {string[]} filled as problems happen
 */
export function watchProblems(page, label) {
  const problems = [];
  page.on('console', (msg) => {
    if (process.env.CK_DEBUG) console.log(`[${label}] ${msg.type()}: ${msg.text()}`);
    if (msg.type() === 'error') problems.push(`${label} console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${label} page error: ${error.message}`));
  return problems;
}

/**
 * Saves the page at desktop and phone widths: screenshots/<name>-desktop.png
 * and screenshots/<name>-phone.png.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
export async function shoot(page, name) {
  const before = page.viewportSize();
  for (const [suffix, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    // A full page of live videos takes long on a busy machine: more time than an ordinary action.
    await page.screenshot({ path: join(SHOTS, `${name}-${suffix}.png`), fullPage: true, animations: 'disabled', caret: 'hide', timeout: 30_000 });
  }
  if (before) await page.setViewportSize(before);
}

/** Waits until a heading with this text (or pattern) is visible. */
export async function heading(page, name) {
  await page.getByRole('heading', { name }).first().waitFor({ state: 'visible' });
}

/** Waits until this text is visible somewhere on the page. */
export async function sees(page, text) {
  await page.getByText(text).first().waitFor({ state: 'visible' });
}

/** Waits until the polite live region has said this. */
export async function announced(page, text) {
  await page.waitForFunction(
    (expected) => document.getElementById('announcer')?.textContent.includes(expected),
    text,
  );
}

/** Clicks a button by its accessible name. */
export async function press(page, name) {
  await page.getByRole('button', { name, exact: true }).first().click();
}

/** Answers a confirmation dialog with the button of this name. */
export async function confirm(page, name) {
  const dialog = page.locator('dialog[open]');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByRole('button', { name, exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
}

/** Accepts every consent item and continues. */
export async function acceptAll(page) {
  await heading(page, 'Before you join');
  for (const radio of await page.getByRole('radio', { name: 'I agree' }).all()) {
    await radio.check();
  }
  await press(page, 'Continue');
}

export function noProblems(...people) {
  const all = people.flatMap((p) => p.problems);
  assert.deepEqual(all, [], 'no console errors, page errors or CSP violations');
}

// --- media, read with getStats() through the client's own hook ---------------

/**
 * What has arrived at this page, per remote stream id (`peer-N`):
 * `{connectionState, streams: {'peer-N': {audio: {packetsReceived, bytesReceived}, video: {...}}}}`,
 * or null when the page has no peer connection.
 * @param {import('playwright-core').Page} page
 */
export async function mediaStats(page) {
  return page.evaluate(() => window.__circleKeeperStats());
}

/** Packets of one kind received so far from one person (0 if nothing yet). */
export async function packets(page, personId, kind) {
  const stats = await mediaStats(page);
  return stats?.streams[`peer-${personId}`]?.[kind].packetsReceived ?? 0;
}

/** Person ids by name, as the page's circle shows them. */
export async function idsByName(page) {
  return page.evaluate(() => Object.fromEntries([...document.querySelectorAll('.seat[data-person]')]
    .map((seat) => [seat.querySelector('.seat-name').textContent, Number(seat.getAttribute('data-person'))])));
}

/**
 * Waits until this page receives at least `more` new packets of `kind` from
 * `personId` (counted from the first reading), polling getStats(). Returns
 * the last count.
 */
export async function grows(page, personId, kind, { more = 25, timeout = 15_000, label = '' } = {}) {
  const start = await packets(page, personId, kind);
  const deadline = Date.now() + timeout;
  let now = start;
  while (Date.now() < deadline) {
    now = await packets(page, personId, kind);
    if (now >= start + more) return now;
    // A Node-side pause: the page may be Chromium's (playwright) or Firefox's (puppeteer).
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${label || 'page'}: ${kind} from person ${personId} did not arrive (${start} → ${now} packets in ${timeout} ms)`);
}

/**
 * Checks that nothing of `kind` arrives from `quietId` while, over the same
 * window, at least `more` packets provably arrive from `heardId`: the
 * window is defined by the other counter, not by a sleep.
 */
export async function staysFlatWhile(page, quietId, heardId, kind, { more = 50, label = '' } = {}) {
  const quietBefore = await packets(page, quietId, kind);
  const heardBefore = await packets(page, heardId, kind);
  const heardAfter = await grows(page, heardId, kind, { more, label });
  const quietAfter = await packets(page, quietId, kind);
  assert.equal(quietAfter, quietBefore,
    `${label}: ${kind} from person ${quietId} still arrives (${quietBefore} → ${quietAfter}) while ${heardAfter - heardBefore} packets came from person ${heardId}`);
}

/** Waits until `n` video tiles in the circle (seats and the spotlight) show moving pictures. */
export async function videosPlaying(page, n) {
  await page.waitForFunction((count) => [...document.querySelectorAll('.tile video')]
    .filter((v) => v.readyState >= 2 && v.videoWidth > 0).length >= count, n, { timeout: 15_000 });
}

// --- accessibility and layout ------------------------------------------------

const AXE = join(import.meta.dirname, 'node_modules', 'axe-core', 'axe.min.js');

/**
 * Runs axe-core on the page as it is now and fails on any serious or
 * critical violation (SPEC §10). `what` names the screen in the message.
 * @param {import('playwright-core').Page} page
 * @param {string} what
 */
export async function accessible(page, what) {
  // Evaluated through the DevTools protocol: the page's Content-Security-Policy
  // (script-src 'self') rightly refuses an injected <script> tag.
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(readFileSync(AXE, 'utf8'));
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
  assert.deepEqual(violations, [], `${what}: no serious or critical accessibility violation`);
}

/**
 * The boxes of these elements lie inside the first viewport (the page not
 * scrolled): top ≥ 0 and bottom ≤ the window's height, and they have a size.
 * @param {import('playwright-core').Page} page
 * @param {string} selector  every visible match is checked; at least one must exist
 * @param {string} what
 */
export async function inFirstViewport(page, selector, what) {
  const boxes = await page.evaluate((sel) => {
    window.scrollTo(0, 0);
    return [...document.querySelectorAll(sel)]
      // Shown ones only: `hidden` and display: none leave no box.
      .filter((el) => el.getClientRects().length > 0)
      .map((el) => {
        const r = el.getBoundingClientRect();
        return { text: el.textContent.trim().slice(0, 30), top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width, height: r.height };
      });
  }, selector);
  const size = page.viewportSize();
  assert.ok(boxes.length > 0, `${what}: ${selector} is on the page`);
  for (const box of boxes) {
    assert.ok(box.width > 0 && box.height > 0, `${what}: “${box.text}” has a size`);
    assert.ok(box.top >= 0 && box.bottom <= size.height && box.left >= 0 && box.right <= size.width,
      `${what}: “${box.text}” (${Math.round(box.left)},${Math.round(box.top)}–${Math.round(box.right)},${Math.round(box.bottom)}) is inside the first ${size.width}×${size.height} screen`);
  }
}
