// The join page: reads the invitation token from the link's fragment (it
// never reaches the server in a URL), hides it from the address bar, opens
// the connection and shows the screen that fits the person's view.

import { CircleConnection, readJoinFragment, sendFeedback } from './protocol.js';
import { h, fill, announce, setupAnnouncer } from './dom.js';
import { t, has, chooseLanguage, setLanguage } from './strings.js';
import { languageSwitch } from './view-language.js';
import { feedbackForm } from './view-feedback.js';
import { localMedia } from './media.js';
import { followMedia } from './webrtc.js';
import { describeChanges } from './circle-parts.js';
import { connectingScreen, noLinkScreen, refusedScreen, consentScreen, lobbyScreen } from './view-join.js';
import { endedScreen } from './view-ended.js';
import { circleScreen } from './view-circle.js';
import { keeperScreen } from './view-keeper.js';

const TOKEN_KEY = 'ck.token';
const LINK_LANG_KEY = 'ck.link-lang';

/**
 * Takes the token (and the link's language) from `#t=…&lang=…` and removes
 * them from the address bar, or else from this tab's storage.
 * @returns {{token: string|null, lang: string|null}}
 */
function readLink() {
  const fromLink = readJoinFragment(location.hash);
  if (fromLink.token) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromLink.token);
      if (fromLink.lang) sessionStorage.setItem(LINK_LANG_KEY, fromLink.lang);
      else sessionStorage.removeItem(LINK_LANG_KEY);
    } catch {
      // Without storage a reload needs the link again; nothing else changes.
    }
    history.replaceState(null, '', location.pathname + location.search);
    return fromLink;
  }
  try {
    return { token: sessionStorage.getItem(TOKEN_KEY), lang: sessionStorage.getItem(LINK_LANG_KEY) };
  } catch {
    return { token: null, lang: null };
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

const root = /** @type {HTMLElement} */ (document.getElementById('app'));
const banner = /** @type {HTMLElement} */ (document.getElementById('connection'));
const feedback = /** @type {HTMLElement} */ (document.getElementById('feedback'));
const topbar = /** @type {HTMLElement} */ (document.querySelector('.topbar'));

/**
 * The screen shown, how to build it again (in another language), and the
 * last view it was given.
 * @type {{key: string, make: (carry?: any) => any, screen: any, view?: any}|null}
 */
let current = null;
/** @type {import('./protocol.js').CircleView|null} */
let lastCircle = null;
let feedbackTimer = 0;
/** The last connection status, so the banner can be said again in another language. */
let lastStatus = null;

/** The language sources besides the person's own choice. */
const languageFrom = { link: /** @type {string|null} */ (null), room: /** @type {string|null} */ (null) };
const switcher = languageSwitch((code) => {
  setLanguage(code, { remember: true });
  rerender();
  announce(t('lang.changed'));
});

/** Shows a screen; focus moves to its heading so screen readers start there. */
function show(key, make) {
  current?.screen.dispose?.();
  current = { key, make, screen: make() };
  fill(root, current.screen.element);
  const title = root.querySelector('.screen-title');
  if (title instanceof HTMLElement) title.focus({ preventScroll: false });
  window.scrollTo(0, 0);
}

/**
 * Builds the current screen again in the language now chosen, keeping what
 * the person typed or chose and where the keyboard focus was (on the switch).
 */
function rerender() {
  switcher.refresh();
  renderBanner();
  if (!current) return;
  const typed = captureForm(root);
  const carry = current.screen.carry?.();
  current.screen.dispose?.();
  current.screen = current.make(carry);
  fill(root, current.screen.element);
  if (current.view) current.screen.update?.(current.view);
  restoreForm(root, typed);
}

/** Values of the fields with an id (text, choices), to survive a rebuild. */
function captureForm(region) {
  const saved = [];
  for (const field of region.querySelectorAll('input[id], textarea[id], select[id]')) {
    const el = /** @type {HTMLInputElement} */ (field);
    if (el.type === 'radio' || el.type === 'checkbox') saved.push([el.id, 'checked', el.checked]);
    else saved.push([el.id, 'value', el.value]);
  }
  return saved;
}

/** Puts the values back without firing events: nothing is sent by a change of language. */
function restoreForm(region, saved) {
  for (const [id, prop, value] of saved) {
    const el = region.querySelector(`#${CSS.escape(id)}`);
    if (!el || el[prop] === value) continue;
    if (prop === 'value' && el instanceof HTMLSelectElement && ![...el.options].some((o) => o.value === value)) continue;
    el[prop] = value;
  }
}

/** Sets the language from the link and the room (the person's own choice wins). */
function applyLanguage() {
  return setLanguage(chooseLanguage(languageFrom));
}

/** The reconnecting banner, in the current language. */
function renderBanner(connection = null) {
  if (!lastStatus || banner.hidden) return;
  const { retryInMs } = lastStatus;
  const seconds = Math.ceil((retryInMs || 0) / 1000);
  fill(banner,
    h('span', { text: retryInMs ? t('status.reconnecting_in', { count: seconds }) : t('status.reconnecting') }),
    h('span', { class: 'muted-text', text: ` ${t('status.reconnect_note')}` }),
    h('button', { type: 'button', class: 'button small secondary', text: t('status.retry_now'), onclick: () => (connection ?? lastStatus.connection)?.retryNow() }));
}

/** A short visible line (also read out) after an action, or its error. */
function tell(text, tone = 'ok') {
  clearTimeout(feedbackTimer);
  feedback.textContent = text;
  feedback.className = `feedback ${tone}`;
  feedback.hidden = false;
  feedbackTimer = setTimeout(() => {
    feedback.hidden = true;
  }, 8000);
}

function errorText(error) {
  const key = `error.${error.code}`;
  return has(key) ? t(key) : t('error.generic', { message: error.message });
}

function start() {
  setupAnnouncer();
  topbar.append(switcher.element);
  // Another invitation link opened in this tab changes only the fragment:
  // keep the new token and start again with it.
  window.addEventListener('hashchange', () => {
    if (readJoinFragment(location.hash).token) {
      readLink();
      location.reload();
    }
  });
  const { token, lang } = readLink();
  languageFrom.link = lang;
  applyLanguage();
  switcher.refresh();
  if (!token) {
    show('no-link', noLinkScreen);
    return;
  }
  show('connecting', connectingScreen);
  const connection = new CircleConnection({ token });

  /** Sends a command; shows its refusal in plain words. */
  const act = (type, fields) => connection.send(type, fields).catch((error) => {
    if (error.code !== 'session_ended') tell(errorText(error), 'error');
    throw error;
  });
  /** The same, for buttons: resolves true when accepted, false when refused (already shown). */
  const quietAct = (type, fields) => act(type, fields).then(() => true, () => false);

  connection.addEventListener('status', (event) => {
    const { status, retryInMs } = event.detail;
    if (status === 'reconnecting' && current && current.key !== 'connecting') {
      banner.hidden = false;
      lastStatus = { retryInMs, connection };
      renderBanner(connection);
    } else if (status === 'open') {
      if (!banner.hidden) announce(t('status.back'));
      banner.hidden = true;
    } else if (status === 'closed') {
      banner.hidden = true;
    }
  });

  connection.addEventListener('state', (event) => {
    const view = event.detail.view;
    // The room's language counts once the server says it (older servers do not).
    if (typeof view.language === 'string' && view.language !== languageFrom.room) {
      languageFrom.room = view.language;
      if (applyLanguage()) rerender();
    }
    switch (view.stage) {
      case 'consent':
        lastCircle = null;
        if (current?.key !== 'consent') {
          show('consent', () => consentScreen(view, (answers, version) => act('consent', { version, answers }).then(() => {})));
        }
        current.view = view;
        current.screen.update?.(view);
        return;
      case 'lobby':
        lastCircle = null;
        if (current?.key !== 'lobby') show('lobby', () => lobbyScreen(view, () => quietAct('leave'), quietAct));
        current.view = view;
        current.screen.update?.(view);
        return;
      case 'circle': {
        const key = view.role === 'keeper' ? 'keeper' : 'circle';
        const first = current?.key !== key;
        if (first) {
          show(key, key === 'keeper'
            ? (carry) => keeperScreen({ act: quietAct, say: (text) => tell(text), carry })
            : () => circleScreen({ act: quietAct }));
        }
        current.view = view;
        current.screen.update(view);
        // One announcement per change, so no sentence overwrites another.
        announce(describeChanges(first ? null : lastCircle, view).join(' '));
        lastCircle = view;
        return;
      }
      default:
        return;
    }
  });

  connection.addEventListener('pause_requested', (event) => {
    current?.screen.pauseRequested?.(event.detail);
    const name = lastCircle?.people.find((p) => p.id === event.detail.by)?.name ?? t('circle.someone');
    announce(t('announce.pause_request', { name }), { urgent: true });
  });
  connection.addEventListener('chat', (event) => {
    current?.screen.chat?.(event.detail);
    if (event.detail.from !== lastCircle?.you) {
      const name = lastCircle?.people.find((p) => p.id === event.detail.from)?.name ?? t('circle.someone');
      announce(t('announce.message', { name }));
    }
  });
  connection.addEventListener('time_up', (event) => {
    current?.screen.timeUp?.(event.detail);
    if (event.detail.person === lastCircle?.you) announce(t('turn.time_up'));
  });

  connection.addEventListener('ended', (event) => {
    const { reason, feedback: offer, support, agreement, summary } = event.detail;
    localMedia.stop();
    lastCircle = null;
    banner.hidden = true;
    // Only someone who left on their own comes back with this link from here.
    if (reason !== 'left') forgetToken();
    // The token stays in memory only, so the answers can still be sent.
    const send = (body) => sendFeedback(token, body);
    show('ended', (carry) => endedScreen({
      reason,
      rejoin: () => location.reload(),
      questionnaire: offer && Array.isArray(offer.questions) ? feedbackForm(offer, send, carry) : null,
      support: Array.isArray(support) ? support : [],
      agreement: agreement || null,
      summary: summary || null,
    }));
  });

  connection.addEventListener('refused', (event) => {
    const code = event.detail.code;
    if (!['room_locked', 'room_not_open'].includes(code)) forgetToken();
    localMedia.stop();
    banner.hidden = true;
    show('refused', () => refusedScreen(event.detail, () => location.reload()));
  });

  connection.addEventListener('error', (event) => {
    tell(errorText(event.detail), 'error');
  });

  // The peer connection with the server: built on `media_ready`, closed with the circle.
  followMedia(connection);
  window.addEventListener('pagehide', () => connection.close());
  connection.connect();
}

start();
