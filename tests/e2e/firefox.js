// Firefox for the browser tests: Debian's firefox-esr driven by puppeteer-core
// over WebDriver BiDi (playwright-core drives only its own patched Firefox,
// which this machine cannot download). Fake camera and microphone by prefs.
// puppeteer's page has no role locators, so these few helpers find buttons
// and headings by their accessible name in the page itself.

import puppeteer from 'puppeteer-core';
import { watchProblems } from './helpers.js';

export const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr';

export async function launchFirefox() {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      // Firefox gathers no loopback candidate and never pairs with a loopback
      // address (media.peerconnection.ice.loopback changes neither in ESR 153),
      // so the test server's media workers listen on every interface and announce
      // each address. Firefox's own checks reach one of them; with an ICE-lite
      // server it nominates aggressively (USE-CANDIDATE on the first check),
      // which the worker handles (src/media/sansio/router.rs). Host addresses in
      // the clear keep about:webrtc readable when a run fails; on a real network
      // they are mDNS names and the server learns them as peer-reflexive
      // candidates (tests/media_interop.rs; docs/decisions.md).
      'media.peerconnection.ice.obfuscate_host_addresses': false,
    },
  });
}

/**
 * A person in Firefox, in their own browser context, whose console errors and
 * page errors are collected as `person()` does for Chromium.
 * @param {import('puppeteer-core').Browser} browser
 */
export async function firefoxPerson(browser, label) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  page.setDefaultTimeout(15_000);
  return { page, context, problems: watchProblems(page, label), label };
}

/** Waits until a visible heading contains this text. */
export async function ffHeading(page, text) {
  await page.waitForFunction((wanted) => [...document.querySelectorAll('h1, h2')]
    .some((h) => h.offsetParent !== null && h.textContent.includes(wanted)), {}, text)
    .catch((error) => { throw new Error(`no visible heading "${text}": ${error.message}`); });
}

/** Clicks the enabled, visible button whose accessible name is `name`. */
export async function ffPress(page, name) {
  const button = await page.waitForFunction((wanted) => [...document.querySelectorAll('button')]
    .find((b) => !b.disabled && b.offsetParent !== null
      && (b.getAttribute('aria-label') || b.textContent).trim() === wanted), {}, name)
    .catch((error) => { throw new Error(`no visible, enabled button "${name}": ${error.message}`); });
  await button.asElement().click();
}

/** Accepts every consent item and continues. */
export async function ffAcceptAll(page) {
  await ffHeading(page, 'Before you join');
  await page.$$eval('input[type=radio][value=accept]', (radios) => radios.forEach((r) => r.click()));
  await ffPress(page, 'Continue');
}
