// For a guardian (SPEC §3.1.6): each minor they answer for, with the consent
// terms to answer on the minor's behalf while that is needed, and a calm
// line once it is done. Shown in the waiting room and in the circle.

import { h, fill } from './dom.js';
import { t } from './strings.js';
import { consentForm } from './consent-form.js';

export class MinorsCard {
  /** @param {(type: string, fields?: object) => Promise<boolean>} act */
  constructor(act) {
    this.act = act;
    this.element = h('div', { class: 'minors', 'data-section': 'minors', hidden: true });
    /** The state last drawn, so a form being filled in is not rebuilt under the guardian. */
    this.key = '';
  }

  /** @param {import('./protocol.js').MinorView[]|undefined} minors */
  update(minors) {
    const list = Array.isArray(minors) ? minors : [];
    const key = JSON.stringify(list.map((m) => [m.person, m.name, m.consent, m.terms?.version]));
    if (key === this.key) return;
    this.key = key;
    this.element.hidden = list.length === 0;
    fill(this.element, list.map((minor) => this.card(minor)));
  }

  /** @param {import('./protocol.js').MinorView} minor */
  card(minor) {
    const name = minor.name;
    const titleId = `minor-${minor.person}-title`;
    if (minor.consent !== 'needed' || !minor.terms) {
      return h('section', { class: 'subcard minor-card', 'aria-labelledby': titleId, 'data-minor': minor.person },
        h('h2', { id: titleId, text: t('minors.title', { name }) }),
        h('p', { class: 'notice ok', text: t('minors.given', { name }) }));
    }
    const form = consentForm({
      terms: minor.terms,
      prefix: `minor-${minor.person}`,
      submitText: t('minors.submit', { name }),
      decline: {
        title: t('minors.confirm_decline.title', { name }),
        body: t('minors.confirm_decline.body', { name }),
        yes: t('minors.confirm_decline.yes'),
        no: t('consent.confirm_decline.no'),
      },
      submit: (answers, version) => this.act('consent_for', { person: minor.person, version, answers }),
    });
    return h('section', { class: 'subcard minor-card', 'aria-labelledby': titleId, 'data-minor': minor.person },
      h('h2', { id: titleId, text: t('minors.title', { name }) }),
      h('p', { text: t('minors.intro', { name }) }),
      form.element);
  }
}
