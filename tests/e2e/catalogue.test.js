// The message catalogues (web-client/lang-*.js) on their own, no browser:
// every language has exactly the keys of English, the same {placeholders},
// every plural form its language needs, and strings.js chooses and formats
// as agreed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import en from '../../web-client/lang-en.js';
import { LANGUAGES, chooseLanguage, listNames, setLanguage, t, translated, formatDate } from '../../web-client/strings.js';

const CLIENT = join(import.meta.dirname, '../../web-client');

/** The placeholders of a text (or of every form of a plural text), sorted and unique. */
function placeholders(value) {
  const texts = typeof value === 'string' ? [value] : Object.values(value);
  return [...new Set(texts.flatMap((text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1])))].sort();
}

describe('message catalogues', () => {
  it('lists one module per language, each in the language list', () => {
    const files = readdirSync(CLIENT).filter((f) => /^lang-[a-z]{2,3}\.js$/.test(f)).sort();
    assert.deepEqual(files, LANGUAGES.map((l) => `lang-${l.code}.js`).sort());
    assert.deepEqual(LANGUAGES.map((l) => [l.code, l.name, l.dir]), [
      ['en', 'English', 'ltr'], ['es', 'Español', 'ltr'], ['ar', 'العربية', 'rtl'],
    ]);
  });

  for (const lang of LANGUAGES) {
    it(`${lang.code}: exactly the keys of English, with the same placeholders`, () => {
      const catalogue = lang.catalogue;
      const missing = Object.keys(en).filter((k) => !(k in catalogue));
      const extra = Object.keys(catalogue).filter((k) => !(k in en));
      assert.deepEqual(missing, [], `${lang.code}: missing keys`);
      assert.deepEqual(extra, [], `${lang.code}: keys English does not have`);
      for (const [key, english] of Object.entries(en)) {
        const own = catalogue[key];
        assert.equal(typeof own, typeof english, `${lang.code} ${key}: plural in one language, plain in the other`);
        assert.deepEqual(placeholders(own), placeholders(english), `${lang.code} ${key}: placeholders`);
        const texts = typeof own === 'string' ? [own] : Object.values(own);
        for (const text of texts) assert.ok(text.trim().length > 0, `${lang.code} ${key}: empty text`);
      }
    });

    it(`${lang.code}: plural texts have every form the language needs`, () => {
      const needed = new Intl.PluralRules(lang.code).resolvedOptions().pluralCategories.sort();
      for (const [key, value] of Object.entries(lang.catalogue)) {
        if (typeof value === 'string') continue;
        assert.deepEqual(Object.keys(value).sort(), needed, `${lang.code} ${key}: plural forms`);
      }
    });

    it(`${lang.code}: the source has no duplicate keys (a later one would silently win)`, () => {
      const source = readFileSync(join(CLIENT, `lang-${lang.code}.js`), 'utf8');
      const keys = [...source.matchAll(/^ {2}'([^']+)':/gm)].map((m) => m[1]);
      const seen = new Set();
      const twice = keys.filter((k) => (seen.has(k) ? true : (seen.add(k), false)));
      assert.deepEqual(twice, []);
      assert.equal(keys.length, Object.keys(lang.catalogue).length);
    });
  }
});

describe('strings.js', () => {
  it('chooses by precedence: own choice > link > room > English, passing over unknown codes', () => {
    // No localStorage in node: no own choice.
    assert.equal(chooseLanguage({}), 'en');
    assert.equal(chooseLanguage({ room: 'es' }), 'es');
    assert.equal(chooseLanguage({ link: 'ar', room: 'es' }), 'ar');
    assert.equal(chooseLanguage({ link: 'fr', room: 'es' }), 'es');
    assert.equal(chooseLanguage({ link: 'es-MX' }), 'es');
    assert.equal(chooseLanguage({ link: 'xx', room: 'yy' }), 'en');
    const store = new Map([['circlekeeper.lang', 'ar']]);
    globalThis.localStorage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v) };
    try {
      assert.equal(chooseLanguage({ link: 'es', room: 'es' }), 'ar');
      store.set('circlekeeper.lang', 'tlh');
      assert.equal(chooseLanguage({ link: 'es' }), 'es', 'a stored code we do not know is passed over');
      setLanguage('es', { remember: true });
      assert.equal(store.get('circlekeeper.lang'), 'es');
    } finally {
      delete globalThis.localStorage;
      setLanguage('en');
    }
  });

  it('fills placeholders, picks plural forms and formats numbers for the language', () => {
    setLanguage('en');
    assert.equal(t('consent.answer_all', { count: 4 }), 'Please answer every point (4 left).');
    assert.equal(t('status.reconnecting_in', { count: 1 }), 'The connection was lost. Trying again in 1 second.');
    assert.equal(listNames(['Alex', 'Sam', 'Jordan']), 'Alex, Sam, and Jordan');
    setLanguage('es');
    assert.equal(t('consent.answer_all', { count: 1 }), 'Responda a todos los puntos, por favor (falta 1).');
    assert.equal(t('consent.answer_all', { count: 3 }), 'Responda a todos los puntos, por favor (faltan 3).');
    assert.equal(listNames(['Alex', 'Sam']), 'Alex y Sam');
    assert.equal(formatDate('2026-05-31'), '31 de mayo de 2026');
    setLanguage('ar');
    assert.equal(t('consent.answer_all', { count: 2 }), 'يُرجى الإجابة عن كل البنود (بقي بندان).');
    assert.match(t('round.title', { n: 3 }), /^الجولة [3٣]$/);
    setLanguage('en');
    assert.equal(t('no.such.key'), 'no.such.key', 'a missing key shows itself, never blank');
  });

  it('shows a program’s translation of its own text when there is one', () => {
    setLanguage('es');
    assert.equal(translated('I take part freely.', { es: 'Participo libremente.' }), 'Participo libremente.');
    assert.equal(translated('I take part freely.', { ar: 'أشارك بحرية.' }), 'I take part freely.');
    assert.equal(translated('I take part freely.', undefined), 'I take part freely.');
    setLanguage('en');
  });
});
