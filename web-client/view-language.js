// The language switch in the top bar, on every screen: a labelled native
// <select> (keyboard and screen readers know it), each language named in its
// own words and marked with its own `lang`, so it is read out correctly.

import { h } from './dom.js';
import { LANGUAGES, language, t } from './strings.js';

/**
 * @param {(code: string) => void} choose  called with the chosen code
 * @returns {{element: HTMLElement, refresh: () => void}}
 */
export function languageSwitch(choose) {
  const select = h('select', { id: 'language-select', class: 'language-select', 'data-key': 'language' },
    LANGUAGES.map((l) => h('option', { value: l.code, lang: l.code, dir: l.dir, text: l.name })));
  const label = h('label', { for: 'language-select', class: 'language-label' });
  const element = h('div', { class: 'language-switch' }, globe(), label, select);
  select.addEventListener('change', () => choose(select.value));

  function refresh() {
    label.textContent = t('lang.label');
    select.value = language();
  }
  refresh();
  return { element, refresh };
}

/** A small globe: the sign people look for to change a page's language. */
function globe() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'globe-icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of ['M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z', 'M3 12h18', 'M12 3c2.5 2.6 3.8 5.6 3.8 9s-1.3 6.4-3.8 9c-2.5-2.6-3.8-5.6-3.8-9s1.3-6.4 3.8-9z']) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
