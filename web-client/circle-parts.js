// Pieces shared by the participant's circle view and the keeper console:
// the turn status, the turn timer, messages, the
// agreement, and the sentences announced when something changes.

import { h, fill, formatDuration } from './dom.js';
import { t, has, listNames, formatDate } from './strings.js';

/** @typedef {import('./protocol.js').CircleView} CircleView */
/** @typedef {import('./protocol.js').PersonView} PersonView */

/** @param {CircleView} view @param {number|null} id */
export function nameOf(view, id) {
  if (id === null || id === undefined) return t('circle.someone');
  const person = view.people.find((p) => p.id === id);
  if (!person) return t('circle.someone');
  return person.name;
}

/** @param {CircleView} view */
export function me(view) {
  return view.people.find((p) => p.id === view.you);
}

/** A small talking-piece mark (a smooth stone), drawn with SVG. */
export function pieceIcon(extraClass = '') {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 32 32');
  svg.setAttribute('class', `piece-icon ${extraClass}`);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const stone = document.createElementNS(ns, 'path');
  stone.setAttribute('d', 'M6 19c0-7 5-12 11-12s9 4 9 9-4 10-11 10S6 24 6 19z');
  stone.setAttribute('class', 'piece-stone');
  const shine = document.createElementNS(ns, 'path');
  shine.setAttribute('d', 'M12 14c1.5-2.5 4-3.5 6.5-3.2');
  shine.setAttribute('class', 'piece-shine');
  svg.append(stone, shine);
  return svg;
}

/**
 * What this person should know about speaking right now.
 * @param {CircleView} view
 * @returns {{title: string, body: string, tone: 'you'|'calm'|'paused'|'private'}}
 */
export function turnStatus(view) {
  const keeper = view.role === 'keeper';
  if (view.caucus) {
    const others = view.caucus.members.filter((id) => id !== view.you).map((id) => nameOf(view, id));
    return { title: t('turn.caucus'), body: t('turn.caucus_body', { names: listNames(others) }), tone: 'private' };
  }
  if (view.phase === 'paused') {
    return { title: t('turn.paused'), body: t(view.pause_video ? 'turn.paused_body_unseen' : 'turn.paused_body'), tone: 'paused' };
  }
  if (view.phase === 'open' || view.phase === 'scheduled') {
    return { title: t('turn.not_started'), body: keeper ? t('turn.keeper_may_speak') : t('turn.not_started_body'), tone: 'calm' };
  }
  if (view.role === 'observer') return { title: t('turn.observer'), body: t('turn.observer_body'), tone: 'calm' };
  // People in a side room, seen from outside it: say so, and never promise a floor the keeper is not there to give.
  const away = view.people.filter((p) => p.in_caucus && p.presence === 'in_circle');
  const awayNames = listNames(away.map((p) => p.name));
  const keepers = view.people.filter((p) => p.role === 'keeper' && p.presence === 'in_circle');
  if (!keeper && away.length && keepers.length && keepers.every((p) => p.in_caucus)) {
    return { title: t('turn.keeper_away'), body: t('turn.keeper_away_body', { names: awayNames }), tone: 'private' };
  }
  const awayNote = away.length ? ` ${t('turn.others_in_caucus', { names: awayNames })}` : '';
  const status = floorStatus(view, keeper);
  return { ...status, body: (status.body + awayNote).trim() };
}

/**
 * The speaking right in session, outside any side room.
 * @param {CircleView} view
 * @param {boolean} keeper
 * @returns {{title: string, body: string, tone: 'you'|'calm'|'paused'|'private'}}
 */
function floorStatus(view, keeper) {
  const keeperNote = keeper && view.keeper_speaks_out_of_turn ? ` ${t('turn.keeper_may_speak')}` : '';
  if (view.mode === 'talking_piece') {
    if (view.holder === view.you) return { title: t('turn.you_hold'), body: t('turn.you_hold_body'), tone: 'you' };
    if (view.holder === null) return { title: t('turn.nobody'), body: t('turn.nobody_body') + keeperNote, tone: 'calm' };
    const next = view.next === view.you ? t('turn.next_is_you') : (view.next !== null ? t('turn.next_is', { name: nameOf(view, view.next) }) : '');
    return {
      title: t('turn.other_holds', { name: nameOf(view, view.holder) }),
      body: [next, keeper ? keeperNote.trim() : t('turn.listen')].filter(Boolean).join(' '),
      tone: 'calm',
    };
  }
  if (view.mode === 'moderated') {
    if (view.granted.includes(view.you)) return { title: t('turn.you_have_floor'), body: t('turn.you_have_floor_body'), tone: 'you' };
    const position = view.hands.indexOf(view.you);
    const floorWith = view.granted.length ? t('turn.floor_with', { names: listNames(view.granted.map((id) => nameOf(view, id))) }) : null;
    if (keeper) return { title: floorWith ?? t('turn.keeper_moderated'), body: (t('turn.keeper_moderated_body') + keeperNote).trim(), tone: 'calm' };
    const body = position >= 0 ? t('turn.hand_waiting', { n: position + 1 }) : t('turn.moderated_body');
    return { title: floorWith ?? t('turn.moderated'), body, tone: 'calm' };
  }
  return { title: t('turn.open'), body: t('turn.open_body'), tone: 'you' };
}

/** Counts a turn's time down locally from `remaining_ms`. */
export class TurnTimer {
  constructor() {
    this.element = h('p', { class: 'timer', role: 'timer', hidden: true });
    this.deadline = 0;
    this.interval = 0;
    this.person = null;
  }

  /** @param {CircleView} view */
  update(view) {
    clearInterval(this.interval);
    if (!view.turn) {
      this.element.hidden = true;
      return;
    }
    this.person = view.turn.person;
    this.deadline = performance.now() + view.turn.remaining_ms;
    const who = view.turn.person === view.you ? '' : `${nameOf(view, view.turn.person)}: `;
    const tick = () => {
      const left = this.deadline - performance.now();
      // Never "0:00 left": once the time is over, say so calmly, once.
      this.element.textContent = left > 0 ? who + t('turn.time_left', { time: formatDuration(left) }) : who + t('turn.time_over');
      this.element.classList.toggle('low', left < 30_000);
      this.element.classList.toggle('over', left <= 0);
      if (left <= 0) clearInterval(this.interval);
    };
    this.element.hidden = false;
    tick();
    this.interval = setInterval(tick, 1000);
  }

  dispose() {
    clearInterval(this.interval);
  }
}

/**
 * Received messages and a form to send one. Chat is never stored: it lives
 * only in this page.
 */
export class Messages {
  /** @param {(to: 'keepers'|'circle', text: string) => Promise<boolean>} send  true when sent */
  constructor(send) {
    this.log = h('ol', { class: 'messages', 'aria-label': t('messages.title') });
    this.empty = h('p', { class: 'muted-text', text: t('messages.empty') });
    this.text = h('textarea', { id: 'message-text', rows: '2', maxlength: '2000', placeholder: t('messages.placeholder'), 'data-key': 'message-text' });
    this.recipient = h('select', { id: 'message-to', 'data-key': 'message-to' },
      h('option', { value: 'keepers', text: t('messages.to_keepers') }),
      h('option', { value: 'circle', text: t('messages.to_circle') }));
    this.recipientField = h('div', { class: 'field' }, h('label', { for: 'message-to', text: t('messages.recipient') }), this.recipient);
    const form = h('form', { class: 'message-form' },
      h('div', { class: 'field' }, h('label', { for: 'message-text', text: t('messages.label') }), this.text),
      this.recipientField,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button secondary', text: t('messages.send') })));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const text = this.text.value.trim();
      if (!text) return;
      // A refusal is shown by the sender; the text stays for another try.
      if (await send(/** @type {any} */ (this.recipient.value), text)) this.text.value = '';
    });
    this.element = h('section', { class: 'panel messages-panel', 'aria-labelledby': 'messages-title' },
      h('h2', { id: 'messages-title', tabindex: '-1', text: t('messages.title') }), this.empty, this.log, form);
  }

  /** Only people who may speak may post to the whole circle (or anyone in a caucus). */
  /** @param {CircleView} view */
  update(view) {
    const self = me(view);
    const mayPostToCircle = Boolean(view.caucus) || Boolean(self && self.may_speak);
    this.recipientField.hidden = !mayPostToCircle;
    if (!mayPostToCircle) this.recipient.value = 'keepers';
    this.view = view;
  }

  /** @param {import('./protocol.js').ChatMsg} msg @param {CircleView} view */
  add(msg, view) {
    const from = msg.from === view.you ? t('circle.you') : nameOf(view, msg.from);
    const heading = msg.to === 'keepers' ? t('messages.from_to_keepers', { name: from }) : t('messages.from_to_circle', { name: from });
    this.empty.hidden = true;
    this.log.append(h('li', { class: `message ${msg.to}` }, h('span', { class: 'message-from', text: heading }), h('span', { class: 'message-text', text: msg.text })));
  }

  focus() {
    this.text.focus();
  }
}

/**
 * The agreement as the parties read it, with the acknowledgement.
 * @param {CircleView} view
 * @param {(hash: string) => void} acknowledge
 */
export function agreementPanel(view, acknowledge) {
  const agreement = view.agreement;
  if (!agreement) return null;
  const self = me(view);
  const acked = agreement.acknowledged_by.includes(view.you);
  const canAck = agreement.is_final && self && self.party && view.role !== 'keeper';
  return h('section', { class: `panel agreement ${agreement.is_final ? 'final' : 'draft'}`, 'aria-labelledby': 'agreement-title', 'data-section': 'agreement' },
    h('h2', { id: 'agreement-title', tabindex: '-1', text: t('agreement.title') }),
    h('p', { class: 'muted-text', text: `${agreement.is_final ? t('agreement.final_note') : t('agreement.draft_note')} ${t('agreement.version', { n: agreement.version })}` }),
    agreementList(agreement.items),
    canAck && (acked
      ? h('p', { class: 'notice ok', text: `✓ ${t('agreement.acked')}` })
      : h('div', { class: 'actions' }, h('button', { type: 'button', class: 'button primary', 'data-key': 'ack', text: t('agreement.ack'), onclick: () => acknowledge(agreement.hash) }))),
    agreement.is_final && !canAck && view.role !== 'keeper' && h('p', { class: 'muted-text', text: t('agreement.no_party') }),
  );
}

/** @param {import('./protocol.js').AgreementItem[]} items */
export function agreementList(items) {
  return h('ol', { class: 'agreement-items' }, items.map((item) => h('li', {},
    h('p', { class: 'agreement-what', text: item.what }),
    h('dl', {},
      item.who && h('div', {}, h('dt', { text: t('agreement.who') }), h('dd', { text: item.who })),
      item.by && h('div', {}, h('dt', { text: t('agreement.by') }), h('dd', { text: item.by })),
      item.due && h('div', { class: 'agreement-due' }, h('dt', { text: t('agreement.due') }),
        h('dd', {}, h('time', { datetime: item.due, text: formatDate(item.due) })))))));
}

/**
 * The sentences to announce when a person's view changes (turn changes,
 * pauses, side rooms, the agreement…). Polite, in the order they matter.
 * @param {CircleView|null} before
 * @param {CircleView} after
 * @returns {string[]}
 */
export function describeChanges(before, after) {
  const out = [];
  if (!before) {
    out.push(t('announce.admitted'));
  }
  const prev = before || /** @type {CircleView} */ ({ phase: after.phase, mode: after.mode, holder: null, round: null, granted: [], caucus: null, agreement: null, people: [] });
  if (before && prev.phase !== after.phase) {
    if (after.phase === 'paused') out.push(t('announce.paused'));
    else if (after.phase === 'in_session' && prev.phase === 'paused') out.push(t('announce.resumed'));
    else if (after.phase === 'in_session') out.push(t('announce.started'));
  }
  if (before && prev.mode !== after.mode) out.push(t('announce.mode', { mode: t(`mode.${after.mode}`) }));
  if (Boolean(prev.caucus) !== Boolean(after.caucus)) out.push(after.caucus ? t('announce.caucus_in') : t('announce.caucus_out'));
  const stepNow = after.outline?.current ?? null;
  if (before && stepNow !== null && stepNow !== (prev.outline?.current ?? null)) {
    const kind = after.outline.steps[stepNow]?.kind;
    out.push(t('announce.step', { n: stepNow + 1, kind: has(`outline.kind.${kind}`) ? t(`outline.kind.${kind}`) : String(kind) }));
  }
  const roundNow = after.round?.number ?? null;
  const roundBefore = prev.round?.number ?? null;
  if (roundNow !== null && roundNow !== roundBefore) out.push(t('announce.round', { n: roundNow, prompt: after.round.prompt }));
  else if (roundNow === null && roundBefore !== null) out.push(t('announce.round_ended'));
  if (after.mode === 'talking_piece' && prev.holder !== after.holder && (before || after.holder !== null)) {
    if (after.holder === after.you) out.push(t('announce.you_hold'));
    else if (after.holder !== null) out.push(t('announce.other_holds', { name: nameOf(after, after.holder) }));
    else out.push(t('announce.nobody_holds'));
  }
  if (after.mode === 'moderated') {
    const had = prev.granted.includes(after.you);
    const has = after.granted.includes(after.you);
    if (!had && has) out.push(t('announce.you_have_floor'));
    else if (had && !has) out.push(t('announce.floor_back'));
  }
  const wasMuted = prev.people.find((p) => p.id === after.you)?.muted;
  if (before && !wasMuted && me(after)?.muted) out.push(t('announce.muted'));
  if (after.agreement?.is_final && !(prev.agreement?.is_final && prev.agreement.hash === after.agreement.hash)) {
    out.push(t('agreement.ready_announce'));
  }
  if (after.role === 'keeper') {
    const waitingBefore = new Set(prev.people.filter((p) => p.presence === 'lobby').map((p) => p.id));
    for (const p of after.people) {
      if (p.presence === 'lobby' && !waitingBefore.has(p.id)) out.push(t('announce.in_lobby', { name: p.name }));
    }
  }
  return out;
}
