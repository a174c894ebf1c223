// Every word the client shows or announces comes from a catalogue, one
// module per language (lang-en.js, lang-es.js, lang-ar.js), all of the same
// shape. This module chooses the language, fills in {placeholders}, picks
// plural forms and formats numbers, dates and lists with `Intl`.

import en from './lang-en.js';
import es from './lang-es.js';
import ar from './lang-ar.js';

/**
 * The languages the client speaks, each named in its own words.
 * @type {{code: string, name: string, dir: 'ltr'|'rtl', catalogue: Record<string, string|Record<string, string>>}[]}
 */
export const LANGUAGES = [
  { code: 'en', name: 'English', dir: 'ltr', catalogue: en },
  { code: 'es', name: 'Español', dir: 'ltr', catalogue: es },
  { code: 'ar', name: 'العربية', dir: 'rtl', catalogue: ar },
];

/** Where a person's own choice is kept (across visits, on this device only). */
export const STORAGE_KEY = 'circlekeeper.lang';

let current = LANGUAGES[0];
let numbers = new Intl.NumberFormat(current.code);
let plurals = new Intl.PluralRules(current.code);
let lists = new Intl.ListFormat(current.code, { style: 'long', type: 'conjunction' });
const listeners = new Set();

/** The entry for a language code, or null when the client does not speak it. */
function find(code) {
  if (typeof code !== 'string') return null;
  const primary = code.trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.find((l) => l.code === primary) ?? null;
}

/** Whether the client has a catalogue for this code (`es`, `es-MX`…). */
export function isKnown(code) {
  return find(code) !== null;
}

/** The language this person chose on this device before, if any. */
export function storedChoice() {
  try {
    return find(localStorage.getItem(STORAGE_KEY))?.code ?? null;
  } catch {
    return null;
  }
}

/**
 * The language to show, by the agreed precedence: the person's own choice,
 * then the invitation link's `lang`, then the room's language, then English.
 * Codes the client does not know are passed over.
 * @param {{link?: string|null, room?: string|null}} sources
 */
export function chooseLanguage({ link = null, room = null } = {}) {
  return (find(storedChoice()) ?? find(link) ?? find(room) ?? LANGUAGES[0]).code;
}

/**
 * Switches the language: the page's `lang` and `dir`, the catalogue and the
 * formats. With `remember`, the choice is kept for next time.
 * @param {string} code
 * @param {{remember?: boolean}} [options]
 * @returns {boolean} whether anything changed
 */
export function setLanguage(code, { remember = false } = {}) {
  const next = find(code) ?? LANGUAGES[0];
  if (remember) {
    try {
      localStorage.setItem(STORAGE_KEY, next.code);
    } catch {
      // Without storage the choice lasts as long as the page.
    }
  }
  const changed = next !== current;
  current = next;
  numbers = new Intl.NumberFormat(next.code);
  plurals = new Intl.PluralRules(next.code);
  lists = new Intl.ListFormat(next.code, { style: 'long', type: 'conjunction' });
  if (typeof document !== 'undefined') {
    document.documentElement.lang = next.code;
    document.documentElement.dir = next.dir;
    document.title = t('app.page_title');
  }
  if (changed) for (const listener of listeners) listener(next.code);
  return changed;
}

/** Calls `listener(code)` after each change of language. */
export function onLanguageChange(listener) {
  listeners.add(listener);
}

/** The code of the language in use. */
export function language() {
  return current.code;
}

/** `ltr` or `rtl`. */
export function direction() {
  return current.dir;
}

/**
 * The text for `key`, with `{name}` placeholders filled from `params`
 * (numbers formatted for the language). Plural texts choose their form by
 * `params.count`. A key missing in this language falls back to English; a
 * key missing everywhere shows the key itself (easy to spot, never blank).
 * @param {string} key
 * @param {Record<string, string|number>} [params]
 */
export function t(key, params = {}) {
  let text = current.catalogue[key] ?? en[key] ?? key;
  if (typeof text === 'object') {
    const count = Number(params.count ?? 0);
    text = text[plurals.select(count)] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (_, name) => {
    if (!(name in params)) return `{${name}}`;
    const value = params[name];
    return typeof value === 'number' ? numbers.format(value) : String(value);
  });
}

/** Whether the catalogue has `key` (for codes we may not know). */
export function has(key) {
  return key in en;
}

/** A list of names in plain language: "A", "A and B", "A, B and C" (or "A y B", "A و B"). */
export function listNames(names) {
  return lists.format(names.map(String));
}

/** A number in the language's digits. */
export function formatNumber(n, options = undefined) {
  return options ? new Intl.NumberFormat(current.code, options).format(n) : numbers.format(n);
}

/**
 * A calendar date `YYYY-MM-DD` in words ("12 May 2026"); anything else as it is.
 * @param {string} iso
 */
export function formatDate(iso) {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(iso));
  if (!match) return String(iso);
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  if (Number.isNaN(date.getTime())) return String(iso);
  return new Intl.DateTimeFormat(current.code, { dateStyle: 'long', timeZone: 'UTC' }).format(date);
}

/**
 * A text the program wrote, in this language when it gave a translation.
 * @param {string} text
 * @param {Record<string, string>|undefined} translations
 */
export function translated(text, translations) {
  const own = translations?.[current.code];
  return typeof own === 'string' && own.trim() ? own : text;
}
