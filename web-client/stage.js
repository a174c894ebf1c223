// The faces of the circle, video first: the person who may speak now in a
// large tile (the spotlight), and everyone in seat order in a row of smaller
// tiles below it. With nobody holding the speaking right, the seats share
// the space equally. Screen readers get the seats as a list; the spotlight
// only repeats what the list says, so it is hidden from them.

import { h, fill, initials } from './dom.js';
import { localMedia } from './media.js';
import { remoteMedia, resumeAudio } from './webrtc.js';
import { t } from './strings.js';
import { pieceIcon } from './circle-parts.js';

/** @typedef {import('./protocol.js').CircleView} CircleView */

/**
 * Who is shown large: the holder of the piece, or the first person granted
 * the floor. Nobody in open floor, or when nobody holds the right.
 * @param {CircleView} view
 * @returns {number|null}
 */
export function focusOf(view) {
  if (view.caucus) return null;
  if (view.mode === 'talking_piece') return view.holder;
  if (view.mode === 'moderated') return view.granted[0] ?? null;
  return null;
}

export class Stage {
  constructor() {
    this.list = h('ol', { class: 'seats', 'aria-label': t('circle.people') });
    this.spot = h('div', { class: 'spotlight', 'aria-hidden': 'true', hidden: true });
    this.soundButton = h('button', {
      type: 'button', class: 'button secondary small sound-button', hidden: true, text: t('circle.turn_on_sound'),
      onclick: () => resumeAudio(),
    });
    this.element = h('section', { class: 'stage', 'aria-label': t('circle.people'), 'data-section': 'stage' }, this.soundButton, this.spot, this.list);
    this.selfVideo = h('video', { class: 'seat-video self', autoplay: true, playsinline: true });
    this.selfVideo.muted = true;
    /** One video element per person, kept across renders so that nothing flickers. @type {Map<number, HTMLVideoElement>} */
    this.videos = new Map();
    /** @type {CircleView|null} */
    this.view = null;
    this._onMedia = () => this.view && this.update(this.view);
    /** Only a class changes: no re-render, and nothing said to screen readers. */
    this._onSpeaking = (event) => {
      const { person } = event.detail;
      for (const tile of this.element.querySelectorAll('.tile[data-person]')) {
        const id = Number(tile.getAttribute('data-person'));
        if (person === null || id === person) tile.classList.toggle('speaking', remoteMedia.isSpeaking(id));
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

  /** The picture of a person: their video, one's own camera, or null. */
  _videoOf(view, person) {
    if (person.id !== view.you) {
      // In a break with pause_video only keepers' video arrives: show initials,
      // not a frozen last frame of someone who is no longer watched.
      const withheld = view.phase === 'paused' && view.pause_video && person.role !== 'keeper' && !person.in_caucus;
      return withheld ? null : this._remoteVideo(person.id);
    }
    const own = localMedia.stream;
    if (!own || !own.getVideoTracks().length || localMedia.settings.hideSelf || !localMedia.cameraOn) return null;
    if (this.selfVideo.srcObject !== own) this.selfVideo.srcObject = own;
    return this.selfVideo;
  }

  /** @param {CircleView} view */
  update(view) {
    this.view = view;
    // Participants see the circle; keepers also see seats of people not in it.
    const people = view.people.filter((p) => p.presence === 'in_circle' || p.presence === 'reconnecting');
    this.soundButton.hidden = !remoteMedia.audioBlocked;
    for (const [id, video] of this.videos) {
      if (!people.some((p) => p.id === id)) {
        video.srcObject = null;
        this.videos.delete(id);
      }
    }
    // Someone in a side room I am not in is not heard here: nobody is shown large for them.
    const candidate = people.find((p) => p.id === focusOf(view));
    const focus = candidate && !(candidate.in_caucus && !view.caucus) ? candidate.id : null;
    this.list.classList.toggle('gallery', focus === null);
    this.list.classList.toggle('many', people.length > 8);
    // Who spoke or passed in this round: only the keeper needs it person by person.
    const marks = view.role === 'keeper' ? new Map((view.round?.marks || []).map(([id, mark]) => [id, mark])) : new Map();

    const focused = people.find((p) => p.id === focus) || null;
    this.spot.hidden = !focused;
    if (focused) {
      const video = this._videoOf(view, focused);
      fill(this.spot, h('div', {
        class: ['tile', 'spotlight-tile', video && 'has-video', focused.id === view.you && 'you',
          focused.id !== view.you && remoteMedia.isSpeaking(focused.id) && 'speaking'].filter(Boolean).join(' '),
        'data-person': focused.id,
      },
      video || h('span', { class: 'initials big', text: initials(focused.name) }),
      h('span', { class: 'tile-caption' },
        view.mode === 'talking_piece' ? pieceIcon('caption-piece') : null,
        h('span', { class: 'seat-name', text: focused.id === view.you ? `${focused.name} (${t('circle.you')})` : focused.name }),
        h('span', { class: 'caption-note', text: view.mode === 'talking_piece' ? t('circle.holds_piece') : t('circle.may_speak') }))));
    } else {
      fill(this.spot);
    }

    fill(this.list, people.map((person) => {
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
      if (person.interprets_for?.length) {
        // Names of those in my list; someone not shown here stays unnamed.
        const names = person.interprets_for.map((id) => view.people.find((p) => p.id === id)?.name).filter(Boolean);
        notes.push(names.length ? t('circle.interprets_for', { names: names.join(', ') }) : t('circle.interpreter'));
      }
      if (person.interpreting) notes.push(t('circle.interpreting'));
      if (person.in_caucus) notes.push(t('circle.in_caucus'));
      if (person.stepped_out) notes.push(t('circle.stepped_out'));
      if (person.presence === 'reconnecting') notes.push(t('presence.reconnecting'));
      if (marks.has(person.id)) notes.push(t(`circle.${marks.get(person.id)}`));

      // The person in the spotlight keeps their seat, with initials: their picture is above.
      const video = person.id === focus ? null : this._videoOf(view, person);
      const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true' }, video || h('span', { class: 'initials', text: initials(person.name) }));
      return h('li', {
        class: ['seat', 'tile', isHolder && 'holder', isNext && 'next', granted && 'granted', you && 'you',
          person.hand_raised && 'hand', elsewhere && 'elsewhere', person.stepped_out && 'stepped-out', person.presence === 'reconnecting' && 'away',
          video && 'has-video', person.id === focus && 'focused', !you && remoteMedia.isSpeaking(person.id) && 'speaking']
          .filter(Boolean).join(' '),
        'data-person': person.id,
      },
      avatar,
      isHolder ? pieceIcon('seat-piece') : null,
      h('span', { class: 'seat-label' },
        h('span', { class: 'seat-name', text: person.name }),
        notes.length ? h('span', { class: 'seat-notes', text: notes.join(' · ') }) : null));
    }));
  }
}
