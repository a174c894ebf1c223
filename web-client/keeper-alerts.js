// What needs the keeper now, at the top of the console: a pause request,
// people waiting to be let in, raised hands, a withdrawal, someone who
// left, a turn whose time is up. Waiting people and raised hands follow the
// room's state; the others are moments, kept until the keeper dismisses them.

import { h, fill, keepFocus } from './dom.js';
import { t, listNames } from './strings.js';
import { nameOf } from './circle-parts.js';

/** @typedef {import('./protocol.js').CircleView} CircleView */
/** @typedef {'pause'|'withdrawn'|'left'|'stepped_out'|'time_up'} Moment */

export class KeeperAlerts {
  /**
   * @param {{act: (type: string, fields?: object) => Promise<boolean>, focusLobby: () => void, urgent?: () => void}} deps
   *   `urgent`: called when a pause request or a withdrawal arrives (the phone sheet makes way)
   */
  constructor({ act, focusLobby, urgent = () => {} }) {
    this.act = act;
    this.focusLobby = focusLobby;
    this.urgent = urgent;
    this.element = h('section', { class: 'alerts', 'aria-labelledby': 'alerts-title', 'data-section': 'alerts', hidden: true });
    /** Moments not yet dismissed, oldest first. @type {Map<string, {kind: Moment, person: number}>} */
    this.moments = new Map();
    /** @type {CircleView|null} */
    this.view = null;
  }

  /** @param {Moment} kind @param {number} person */
  add(kind, person) {
    this.moments.delete(`${kind}-${person}`);
    this.moments.set(`${kind}-${person}`, { kind, person });
    this.render();
    if (kind === 'pause' || kind === 'withdrawn') this.urgent();
  }

  /** @param {CircleView} view */
  update(view) {
    const before = this.view;
    this.view = view;
    if (before) {
      const was = new Map(before.people.map((p) => [p.id, p.presence]));
      const wasOut = new Set(before.people.filter((p) => p.stepped_out).map((p) => p.id));
      for (const p of view.people) {
        const then = was.get(p.id);
        if (p.stepped_out && !wasOut.has(p.id)) this.add('stepped_out', p.id);
        if (!p.stepped_out) this.moments.delete(`stepped_out-${p.id}`);
        if (p.presence === 'withdrawn' && then !== 'withdrawn') this.add('withdrawn', p.id);
        if (p.presence === 'away' && (then === 'in_circle' || then === 'reconnecting')) this.add('left', p.id);
        // Back in the circle: "has left" is no longer true.
        if (p.presence === 'in_circle') this.moments.delete(`left-${p.id}`);
      }
    }
    this.render();
  }

  _dismiss(key) {
    this.moments.delete(key);
    this.render();
  }

  render() {
    const view = this.view;
    if (!view) return;
    const cards = [];
    const card = (key, tone, title, body, ...buttons) => h('div', { class: `alert-card ${tone}`, role: 'group', 'aria-label': title, 'data-alert': key },
      h('div', { class: 'alert-words' },
        h('p', { class: 'alert-title', text: title }),
        body && h('p', { class: 'alert-body', text: body })),
      h('div', { class: 'actions' }, buttons));
    const dismiss = (key) => h('button', { type: 'button', class: 'button secondary small', 'data-key': `dismiss-${key}`, text: t('keeper.dismiss'), onclick: () => this._dismiss(key) });

    for (const [key, { kind, person }] of [...this.moments].reverse()) {
      const name = nameOf(view, person);
      if (kind === 'pause') {
        cards.push(card(key, 'pause', t('keeper.pause_request', { name }), t('keeper.pause_request_body'),
          view.phase === 'in_session' && h('button', { type: 'button', class: 'button primary small', 'data-key': `pause-${person}`, text: t('keeper.pause_now'),
            onclick: async () => { if (await this.act('pause')) this._dismiss(key); } }),
          dismiss(key)));
      } else if (kind === 'withdrawn') {
        cards.push(card(key, 'grave', t('keeper.alert_withdrawn', { name }), t('keeper.alert_withdrawn_body'), dismiss(key)));
      } else if (kind === 'stepped_out') {
        cards.push(card(key, 'calm', t('keeper.alert_stepped_out', { name }), t('keeper.alert_stepped_out_body'), dismiss(key)));
      } else if (kind === 'left') {
        cards.push(card(key, 'calm', t('keeper.alert_left', { name }), t('keeper.alert_left_body'), dismiss(key)));
      } else {
        cards.push(card(key, 'calm', t('turn.time_up_other', { name }), '', dismiss(key)));
      }
    }
    const waiting = view.people.filter((p) => p.presence === 'lobby');
    if (waiting.length) {
      cards.push(card('waiting', 'calm', t('keeper.alert_waiting', { names: listNames(waiting.map((p) => p.name)) }), '',
        h('button', { type: 'button', class: 'button secondary small', 'data-key': 'to-lobby', text: t('keeper.alert_to_lobby'), onclick: () => this.focusLobby() })));
    }
    if (view.mode === 'moderated' && view.hands.length) {
      const first = view.hands[0];
      cards.push(card('hands', 'calm', t('keeper.alert_hands', { names: listNames(view.hands.map((id) => nameOf(view, id))) }), '',
        h('button', { type: 'button', class: 'button primary small', 'data-key': `floor-${first}`, text: t('keeper.give_floor_to', { name: nameOf(view, first) }),
          onclick: () => this.act('grant_floor', { to: first }) })));
    }
    this.element.hidden = cards.length === 0;
    keepFocus(this.element, () => fill(this.element,
      h('h2', { id: 'alerts-title', class: 'alerts-title', text: t('keeper.alerts') }),
      cards));
  }
}
