// The guided start (SPEC §10): until the circle has begun, the keeper sees
// four steps — open the room, let people in, start, open with a round —
// one at a time, with the one thing to do now as the main button. It goes away once
// the first round (or the outline's first step) has begun, or when the
// keeper hides it.

import { h, fill, keepFocus } from './dom.js';
import { t } from './strings.js';

/** @typedef {import('./protocol.js').CircleView} CircleView */

export class KeeperGuide {
  /**
   * @param {{act: (type: string, fields?: object) => Promise<boolean>, done?: boolean}} deps
   *   `done`: the guide was finished or hidden before (a rebuild in another language)
   */
  constructor({ act, done = false }) {
    this.act = act;
    this.done = done;
    this.prompt = h('textarea', { id: 'opening-prompt', rows: '2', maxlength: '500', value: t('guide.opening_default') });
    this.element = h('section', { class: 'guide', 'aria-labelledby': 'guide-title', 'data-section': 'guide', hidden: true });
  }

  /** @param {CircleView} view */
  update(view) {
    const started = view.phase === 'in_session' || view.phase === 'paused';
    // Begun: a round runs, or the outline has moved. From then on the guide stays away.
    if (started && (view.round || (view.outline && view.outline.current !== null))) this.done = true;
    // Without a piece or an outline there is no opening round to start: starting is the last step.
    if (started && !view.outline && view.mode !== 'talking_piece') this.done = true;
    if (this.done || view.phase === 'closed') {
      this.element.hidden = true;
      return;
    }
    this.element.hidden = false;
    const waiting = view.people.filter((p) => p.presence === 'lobby');
    const admitted = view.people.some((p) => p.role !== 'keeper' && p.presence === 'in_circle');
    const now = view.phase === 'scheduled' ? 0 : !started && (waiting.length || !admitted) ? 1 : !started ? 2 : 3;
    const button = (key, text, onclick, primary) => h('button', { type: 'button', class: `button ${primary ? 'primary' : 'secondary'} small`, 'data-key': key, text, onclick });

    // One step at a time: the step to take now, with its one main button.
    const steps = [
      [t('guide.step_open'), button('guide-open', t('keeper.open_room'), () => this.act('open_room'), true)],
      // Who waits is the alert beside this; starting with someone still waiting is allowed, never the main move.
      [t('guide.step_admit'), [
        !waiting.length && h('p', { class: 'guide-note', text: t('guide.nobody_waiting') }),
        button('guide-start-early', t('keeper.start'), () => this.act('start_session'), false),
      ]],
      [t('guide.step_start'), button('guide-start', t('keeper.start'), () => this.act('start_session'), true)],
      [this.openingText(view), this.opening(view)],
    ];
    const [text, action] = steps[now];
    keepFocus(this.element, () => fill(this.element,
      h('h2', { id: 'guide-title', class: 'guide-title' },
        t('guide.title'), h('span', { class: 'guide-count', text: ` · ${t('guide.step_of', { n: now + 1, total: steps.length })}` })),
      h('p', { class: 'guide-step', text }),
      h('div', { class: 'actions' }, action || null,
        h('button', { type: 'button', class: 'button quiet small', 'data-key': 'guide-hide', text: t('guide.hide'),
          onclick: () => { this.done = true; this.element.hidden = true; } }))));
  }

  /** @param {CircleView} view */
  openingText(view) {
    return view.outline ? t('guide.step_opening_outline') : t('guide.step_opening');
  }

  /** The fourth step's action: the outline's first step, or the opening round. */
  opening(view) {
    if (view.outline) {
      return h('button', { type: 'button', class: 'button primary small', 'data-key': 'guide-outline', text: t('guide.begin_outline'), onclick: () => this.act('next_step') });
    }
    if (view.mode !== 'talking_piece') return null;
    return h('div', { class: 'guide-opening' },
      h('div', { class: 'field' }, h('label', { for: 'opening-prompt', text: t('guide.opening_label') }), this.prompt),
      h('button', { type: 'button', class: 'button primary small', 'data-key': 'guide-round', text: t('guide.start_opening'),
        onclick: () => this.act('start_round', { prompt: this.prompt.value.trim(), first: null }) }));
  }
}
