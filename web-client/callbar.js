// What stays within reach in the circle: microphone and camera toggles,
// "I need a moment" and leave, in a bar that never scrolls away on a phone;
// and the line that says whether others can hear you now.

import { h, fill } from './dom.js';
import { localMedia } from './media.js';
import { t } from './strings.js';
import { me } from './circle-parts.js';
import { remoteMedia } from './webrtc.js';

/** @typedef {import('./protocol.js').CircleView} CircleView */

/**
 * Can the others hear this person now? Taken from the server's gates
 * (`may_speak`, which already counts a keeper's mute, pauses and side rooms),
 * never from the person's own microphone; the microphone only adds a note.
 * @param {CircleView} view
 * @returns {{heard: boolean, title: string, note: string}}
 */
export function heardState(view) {
  const self = me(view);
  const heard = Boolean(self?.may_speak);
  if (self?.stepped_out) return { heard: false, title: t('heard.stepped_out'), note: t('heard.stepped_out_note') };
  if (!heard) {
    const pausedNote = view.pause_video && self?.role !== 'keeper' && !view.caucus ? 'heard.paused_unseen' : 'heard.paused';
    const note = self?.muted ? t('action.muted_note') : (view.phase === 'paused' ? t(pausedNote) : '');
    return { heard, title: t('heard.no'), note };
  }
  if (!localMedia.sendingAudio) return { heard, title: t('heard.yes_mic_off'), note: t('heard.mic_off_note') };
  return { heard, title: t('heard.yes'), note: view.caucus ? t('heard.caucus') : '' };
}

/** The heard / not heard line, said politely to screen readers when it changes. */
export class HeardLine {
  constructor() {
    this.element = h('div', { class: 'heard', role: 'status', 'aria-live': 'polite', 'data-section': 'heard' });
    this.key = '';
    this.view = null;
    this._onMedia = () => this.view && this.update(this.view);
    localMedia.addEventListener('change', this._onMedia);
  }

  /** @param {CircleView} view */
  update(view) {
    this.view = view;
    const state = heardState(view);
    const key = `${state.heard}|${state.title}|${state.note}`;
    if (key === this.key) return;
    this.key = key;
    this.element.classList.toggle('yes', state.heard);
    fill(this.element,
      h('span', { class: 'heard-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'heard-title', text: state.title }),
      state.note ? h('span', { class: 'heard-note', text: state.note }) : null);
  }

  dispose() {
    localMedia.removeEventListener('change', this._onMedia);
  }
}

/**
 * The sign of the link's quality (good, weak, lost), beside the heard line.
 * Nothing is shown before the circle's media starts; a change is said
 * politely to screen readers.
 */
export class QualitySign {
  constructor() {
    this.element = h('p', { class: 'quality', role: 'status', 'data-section': 'quality', 'data-quality': 'none', hidden: true });
    this._onQuality = () => this.render();
    remoteMedia.addEventListener('quality', this._onQuality);
    this.render();
  }

  render() {
    const quality = remoteMedia.quality;
    this.element.dataset.quality = quality;
    this.element.hidden = quality === 'none';
    fill(this.element, quality === 'none' ? null : [
      h('span', { class: 'quality-bars', 'aria-hidden': 'true' }, h('span'), h('span'), h('span')),
      h('span', { class: 'quality-text', text: t(`quality.${quality}`) }),
    ]);
  }

  dispose() {
    remoteMedia.removeEventListener('quality', this._onQuality);
  }
}

const ICONS = {
  mic: 'M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3zM6 11a6 6 0 0 0 12 0M12 17v4',
  camera: 'M4 7h11v10H4zM15 10l5-3v10l-5-3',
  moment: 'M12 4a8 8 0 1 0 0 16 8 8 0 0 0 0-16zM12 8v4l3 2',
  leave: 'M10 5H5v14h5M14 8l4 4-4 4M18 12H9',
  tools: 'M4 6h16M4 12h16M4 18h16',
  away: 'M6 4h9v16H6zM12 12h.01M15 6l4-1v14l-4-1',
  slash: 'M4 4l16 16',
};

/** A line icon (SVG, no inline style). */
function icon(name, off = false) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'bar-icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const d of [ICONS[name], off ? ICONS.slash : null]) {
    if (!d) continue;
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/**
 * The bar: one tap each. The toggles stop sending locally (the track is
 * disabled); the server's gates still decide who hears whom.
 */
export class CallBar {
  /**
   * @param {{moment?: () => void, stepOut?: (back: boolean) => void, leave: () => void, tools?: () => void}} actions
   *   no `moment`: no such button (keepers pause instead); `stepOut(back)` steps out, or back;
   *   `tools`: the keeper's console as a sheet (phones only)
   */
  constructor({ moment, stepOut, leave, tools }) {
    this.steppedOut = false;
    this.stepOut = stepOut ? h('button', { type: 'button', class: 'bar-button away', 'data-key': 'step-out', 'aria-pressed': 'false',
      onclick: () => stepOut(this.steppedOut) }) : null;
    this.mic = h('button', { type: 'button', class: 'bar-button', 'data-key': 'bar-mic', 'aria-pressed': 'true', onclick: () => this._toggle('mic') });
    this.camera = h('button', { type: 'button', class: 'bar-button', 'data-key': 'bar-camera', 'aria-pressed': 'true', onclick: () => this._toggle('camera') });
    this.moment = moment ? h('button', { type: 'button', class: 'bar-button moment', 'data-key': 'moment', onclick: moment },
      icon('moment'), h('span', { class: 'bar-text', text: t('action.need_moment') })) : null;
    this.leave = h('button', { type: 'button', class: 'bar-button leave', onclick: leave },
      icon('leave'), h('span', { class: 'bar-text', text: t('action.leave') }));
    this.tools = tools ? h('button', { type: 'button', class: 'bar-button tools', 'data-key': 'tools', 'aria-expanded': 'false', 'aria-controls': 'keeper-console', onclick: tools },
      icon('tools'), h('span', { class: 'bar-text', text: t('keeper.tools') })) : null;
    this.element = h('nav', { class: 'callbar', 'aria-label': t('bar.label'), 'data-section': 'callbar' },
      this.tools, this.mic, this.camera, this.moment, this.stepOut, this.leave);
    this._onMedia = () => this.render();
    localMedia.addEventListener('change', this._onMedia);
    this.render();
  }

  _toggle(kind) {
    if (!localMedia.stream) {
      // Devices not started (or turned off in the device check): a tap starts them.
      localMedia.setMic(true);
      localMedia.setCamera(true);
      void localMedia.start();
      return;
    }
    if (kind === 'mic') localMedia.setMic(!localMedia.micOn);
    else localMedia.setCamera(!localMedia.cameraOn);
  }

  render() {
    const micOn = localMedia.sendingAudio;
    const cameraOn = localMedia.sendingVideo;
    this.mic.setAttribute('aria-pressed', String(micOn));
    this.camera.setAttribute('aria-pressed', String(cameraOn));
    this.mic.classList.toggle('off', !micOn);
    this.camera.classList.toggle('off', !cameraOn);
    fill(this.mic, icon('mic', !micOn), h('span', { class: 'bar-text', text: t('bar.mic') }));
    fill(this.camera, icon('camera', !cameraOn), h('span', { class: 'bar-text', text: t('bar.camera') }));
    if (this.stepOut) {
      this.stepOut.setAttribute('aria-pressed', String(this.steppedOut));
      this.stepOut.classList.toggle('off', this.steppedOut);
      fill(this.stepOut, icon('away'), h('span', { class: 'bar-text', text: t(this.steppedOut ? 'action.step_back' : 'action.step_out') }));
    }
  }

  /** @param {boolean} open  the keeper's sheet is open */
  setTools(open) {
    this.tools?.setAttribute('aria-expanded', String(open));
  }

  focusTools() {
    this.tools?.focus();
  }

  /** @param {{observer?: boolean, steppedOut?: boolean}} state */
  update({ observer = false, steppedOut = false } = {}) {
    if (steppedOut !== this.steppedOut) {
      this.steppedOut = steppedOut;
      this.render();
    }
    // Observers publish nothing: no toggles, no pause request.
    this.mic.hidden = observer;
    this.camera.hidden = observer;
    if (this.moment) this.moment.hidden = observer;
  }

  dispose() {
    localMedia.removeEventListener('change', this._onMedia);
  }
}
