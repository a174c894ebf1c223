// The circle's values and guidelines (SPEC §3.2.8): a quiet card everyone in
// the circle sees all session, and the keeper's small editor (one value per
// line) in the console.

import { h, fill } from './dom.js';
import { t } from './strings.js';

const MAX_VALUES = 12;
const MAX_CHARS = 120;

/** The card: hidden while the circle has no values, or while one is in a caucus. */
export class ValuesCard {
  constructor() {
    this.list = h('ul', { class: 'values-list' });
    this.element = h('section', { class: 'values-card', 'aria-labelledby': 'values-title', 'data-section': 'values', hidden: true },
      h('h2', { id: 'values-title', class: 'eyebrow', text: t('values.title') }),
      this.list);
  }

  /** @param {import('./protocol.js').CircleView} view */
  update(view) {
    const values = view.values ?? [];
    this.element.hidden = values.length === 0 || Boolean(view.caucus);
    // Values are what people typed: each keeps its own direction.
    fill(this.list, values.map((value) => h('li', {}, h('bdi', { text: value }))));
  }
}

/**
 * The keeper's editor: a text area, one value per line, and "Save values".
 * What the keeper is typing is never replaced by an update from the room.
 * @param {object} deps
 * @param {(type: string, fields?: object) => Promise<boolean>} deps.act
 * @param {(text: string) => void} deps.say
 * @param {{text: string, dirty: boolean}} [deps.carry]
 */
export function valuesEditor({ act, say, carry }) {
  let dirty = carry?.dirty ?? false;
  const area = h('textarea', { id: 'values-text', rows: '4', 'aria-describedby': 'values-hint' });
  area.value = carry?.text ?? '';
  area.addEventListener('input', () => { dirty = true; });
  const save = async () => {
    const values = area.value.split('\n').map((line) => line.trim()).filter(Boolean)
      .slice(0, MAX_VALUES).map((line) => line.slice(0, MAX_CHARS));
    if (await act('set_values', { values })) {
      dirty = false;
      say(values.length ? t('keeper.values_saved') : t('keeper.values_cleared'));
    }
  };
  const element = h('div', { class: 'values-editor' },
    h('div', { class: 'field' },
      h('label', { for: 'values-text', text: t('keeper.values_label') }),
      h('p', { id: 'values-hint', class: 'muted-text small', text: t('keeper.values_hint', { n: MAX_VALUES }) }),
      area),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'button secondary', 'data-key': 'save-values', text: t('keeper.save_values'), onclick: save })));
  return {
    element,
    /** @param {import('./protocol.js').CircleView} view */
    update(view) {
      if (!dirty) area.value = (view.values ?? []).join('\n');
    },
    carry: () => ({ text: area.value, dirty }),
  };
}
