// Pieces shared by the participant's circle view and the keeper console:
// the ring of seats, the turn status, the turn timer, messages, the
// agreement, and the sentences announced when something changes.

import { h, fill, formatDuration, initials } from './dom.js';
import { localMedia } from './media.js';
import { remoteMedia, resumeAudio } from './webrtc.js';
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
 * The people around a circle, in seat order, with the talking piece shown
 * at its holder. A list for screen readers, a ring for the eyes.
 */
export class Ring {
  constructor() {
    this.list = h('ol', { class: 'ring', 'aria-label': t('circle.people') });
    this.centre = h('div', { class: 'ring-centre', 'aria-hidden': 'true' });
    this.soundButton = h('button', {
      type: 'button', class: 'button secondary small sound-button', hidden: true, text: t('circle.turn_on_sound'),
      onclick: () => resumeAudio(),
    });
    this.ring = h('div', { class: 'ring-wrap' }, h('div', { class: 'ring-line', 'aria-hidden': 'true' }), this.centre, this.list);
    this.element = h('div', { class: 'ring-box' }, this.soundButton, this.ring);
    this.selfVideo = h('video', { class: 'seat-video self', autoplay: true, playsinline: true });
    this.selfVideo.muted = true;
    /** One video element per person, kept across renders so that nothing flickers. @type {Map<number, HTMLVideoElement>} */
    this.videos = new Map();
    /** @type {CircleView|null} */
    this.view = null;
    this._onMedia = () => this.view && this.update(this.view);
    /** Only the ring's class changes: no re-render, and nothing said to screen readers. */
    this._onSpeaking = (event) => {
      const { person } = event.detail;
      for (const li of this.list.querySelectorAll('.seat')) {
        const id = Number(li.getAttribute('data-person'));
        if (person === null || id === person) li.classList.toggle('speaking', remoteMedia.isSpeaking(id));
      }
    };
    localMedia.addEventListener('change', this._onMedia);
    remoteMedia.addEventListener('streams', this._onMedia);
    remoteMedia.addEventListener('speaking', this._onSpeaking);
  }

  dispose() {
    localMedia.removeEventListener('change', this._onMedia);
    remoteMedia.removeEventListener('streams', this._onMedia);
    remoteMedia.removeEventListener('speaking', this._onSpeaking);
    this.selfVideo.srcObject = null;
    for (const video of this.videos.values()) video.srcObject = null;
    this.videos.clear();
  }

  /** The video element for a person's stream, or null when no video arrives from them. */
  _remoteVideo(personId) {
    const stream = remoteMedia.streams.get(personId);
    let video = this.videos.get(personId);
    if (!stream || !remoteMedia.hasVideo(personId)) {
      if (video) {
        video.srcObject = null;
        this.videos.delete(personId);
      }
      return null;
    }
    if (!video) {
      // Sound plays through the hidden <audio> of webrtc.js: the picture is muted.
      video = /** @type {HTMLVideoElement} */ (h('video', { class: 'seat-video remote', autoplay: true, playsinline: true }));
      video.muted = true;
      this.videos.set(personId, video);
    }
    if (video.srcObject !== stream) video.srcObject = stream;
    return video;
  }

  /** @param {CircleView} view */
  update(view) {
    this.view = view;
    // Participants see the circle; keepers also see seats of people not in it.
    const people = view.people.filter((p) => p.presence === 'in_circle' || p.presence === 'reconnecting');
    const many = people.length > 12;
    this.ring.classList.toggle('ring-as-list', many);
    this.ring.classList.toggle('few', people.length <= 6);
    this.soundButton.hidden = !remoteMedia.audioBlocked;
    for (const [id, video] of this.videos) {
      if (!people.some((p) => p.id === id)) {
        video.srcObject = null;
        this.videos.delete(id);
      }
    }
    const marks = new Map((view.round?.marks || []).map(([id, mark]) => [id, mark]));
    const items = people.map((person, index) => {
      const isHolder = view.mode === 'talking_piece' && view.holder === person.id;
      const isNext = view.mode === 'talking_piece' && view.next === person.id && view.holder !== null;
      const granted = view.mode === 'moderated' && view.granted.includes(person.id);
      const you = person.id === view.you;
      // Out of reach right now: outside my side room, or in one I am not in.
      const elsewhere = view.caucus ? !view.caucus.members.includes(person.id) : person.in_caucus;
      const notes = [];
      if (you) notes.push(t('circle.you'));
      if (person.role === 'keeper') notes.push(t('circle.keeper'));
      if (person.role === 'observer') notes.push(t('circle.observer'));
      if (isHolder) notes.push(t('circle.holds_piece'));
      else if (isNext) notes.push(t('circle.next_marker'));
      if (granted) notes.push(t('circle.may_speak'));
      if (person.hand_raised) notes.push(t('circle.hand_raised'));
      if (person.muted) notes.push(t('circle.muted'));
      if (person.in_caucus) notes.push(t('circle.in_caucus'));
      if (person.presence === 'reconnecting') notes.push(t('presence.reconnecting'));
      if (marks.has(person.id)) notes.push(t(`circle.${marks.get(person.id)}`));

      const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' }, h('span', { class: 'initials', text: initials(person.name) }));
      const own = you ? localMedia.stream : null;
      const showSelf = own && own.getVideoTracks().length && !localMedia.settings.hideSelf;
      let video = null;
      if (showSelf) {
        if (this.selfVideo.srcObject !== own) this.selfVideo.srcObject = own;
        video = this.selfVideo;
      } else if (!you) {
        video = this._remoteVideo(person.id);
      }
      if (video) avatar.append(video);
      const li = h('li', {
        class: ['seat', isHolder && 'holder', isNext && 'next', granted && 'granted', you && 'you',
          person.hand_raised && 'hand', elsewhere && 'elsewhere', person.presence === 'reconnecting' && 'away',
          video && 'has-video', !you && remoteMedia.isSpeaking(person.id) && 'speaking']
          .filter(Boolean).join(' '),
        'data-person': person.id,
      },
      avatar,
      isHolder ? pieceIcon('seat-piece') : null,
      h('span', { class: 'seat-name', text: person.name }),
      notes.length ? h('span', { class: 'seat-notes', text: notes.join(' · ') }) : null);
      if (!many) {
        const angle = (-90 + (360 * index) / people.length) * (Math.PI / 180);
        // On the drawn ring (.ring-line sits 14% in from each side).
        li.style.left = `${50 + 36 * Math.cos(angle)}%`;
        li.style.top = `${50 + 36 * Math.sin(angle)}%`;
      }
      return li;
    });
    fill(this.list, items);

    const holder = view.mode === 'talking_piece' && view.holder !== null ? nameOf(view, view.holder) : null;
    if (holder) {
      fill(this.centre, pieceIcon('centre-piece'), h('span', { class: 'centre-label', text: t('circle.piece') }), h('span', { class: 'centre-name', text: holder }));
    } else {
      fill(this.centre, h('span', { class: 'centre-label', text: t(`mode.${view.mode}`) }));
    }
  }
}

/**
 * What this person should know about speaking right now.
 * @param {CircleView} view
 * @returns {{title: string, body: string, tone: 'you'|'calm'|'paused'|'private'}}
 */
export function turnStatus(view) {
  const self = me(view);
  const keeper = view.role === 'keeper';
  if (view.caucus) {
    const others = view.caucus.members.filter((id) => id !== view.you).map((id) => nameOf(view, id));
    return { title: t('turn.caucus'), body: t('turn.caucus_body', { names: listNames(others) }), tone: 'private' };
  }
  if (view.phase === 'paused') return { title: t('turn.paused'), body: t('turn.paused_body'), tone: 'paused' };
  if (view.phase === 'open' || view.phase === 'scheduled') {
    return { title: t('turn.not_started'), body: keeper ? t('turn.keeper_may_speak') : t('turn.not_started_body'), tone: 'calm' };
  }
  if (view.role === 'observer') return { title: t('turn.observer'), body: t('turn.observer_body'), tone: 'calm' };
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
    const title = view.granted.length
      ? t('turn.floor_with', { names: listNames(view.granted.map((id) => nameOf(view, id))) })
      : t('turn.moderated');
    const body = position >= 0 ? t('turn.hand_waiting', { n: position + 1 }) : (keeper ? keeperNote.trim() : t('turn.moderated_body'));
    return { title, body, tone: 'calm' };
  }
  void self;
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
      this.element.textContent = who + t('turn.time_left', { time: formatDuration(left) });
      this.element.classList.toggle('low', left < 30_000);
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
