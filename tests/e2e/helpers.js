// Shared by the browser tests: the browser, the demo links printed by the
// server (run.sh passes them in), screenshots at desktop and phone widths,
// and small waiting helpers (playwright-core has no `expect`).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
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

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
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
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`${label} console: ${msg.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${label} page error: ${error.message}`));
  return { page, context, problems, label };
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
    await page.screenshot({ path: join(SHOTS, `${name}-${suffix}.png`), fullPage: true, animations: 'disabled', caret: 'hide' });
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
