// The Circle Keeper wire protocol (version 1) over `/ws`, and nothing else:
// no DOM, no strings for people. The UI listens to the events of a
// `CircleConnection` and calls `send`. The code of the server is the truth:
// src/signal/wire.rs, src/circle/command.rs, output.rs and view.rs.
//
// The invitation token is sent only inside the `hello` frame, never in a URL,
// and never logged.

export const PROTOCOL_VERSION = 1;

/**
 * @typedef {number} PersonId
 * @typedef {'circle'|'conference'|'preparation'} RoomKind
 * @typedef {'keeper'|'participant'|'observer'} Role
 * @typedef {'harmed'|'responsible'|'supporter'|'community'|'professional'|'interpreter'|'guardian'} Party
 * @typedef {'scheduled'|'open'|'in_session'|'paused'|'closed'} Phase
 * @typedef {'talking_piece'|'moderated'|'open'} FloorMode
 * @typedef {'consent'|'lobby'|'in_circle'|'reconnecting'|'away'|'withdrawn'|'removed'|'revoked'} Presence
 * @typedef {'left'|'consent_declined'|'consent_withdrawn'|'denied'|'removed'|'revoked'|'room_closed'|'session_ended'|'replaced'|'guardian_withdrew'} EndReason
 *
 * @typedef {{id: string, text: string, required: boolean, translations?: Record<string, string>}} ConsentItem
 *   `translations`: language code → the item's text in that language (absent when none).
 * @typedef {{version: string, items: ConsentItem[]}} ConsentTerms
 * @typedef {{first: Party, then: Party}} EntryOrder
 *
 * @typedef {object} PersonView
 * @property {PersonId} id
 * @property {string} name
 * @property {number} seat
 * @property {Role} role
 * @property {Party|null} party
 * @property {Presence} presence
 * @property {boolean} may_speak
 * @property {boolean} muted        A keeper muted this person's audio.
 * @property {boolean} in_caucus
 * @property {boolean} hand_raised
 * @property {boolean} ready
 * @property {PersonId[]} interprets_for the people this interpreter interprets for (empty for others)
 * @property {number|null} [guardian_seat] a minor's guardian's seat
 * @property {number|null} [supports_seat] a supporter's person's seat
 * @property {boolean} interpreting an interpreter finishing after their person's turn, heard by everyone until `done_interpreting`
 *
 * @typedef {{number: number, prompt: string, marks: Array<[PersonId, 'spoke'|'passed']>, order?: PersonId[]}} RoundView
 * @typedef {{person: PersonId, remaining_ms: number}} TurnView
 * @typedef {{id: number, members: PersonId[]}} CaucusView
 * @typedef {{what: string, who: string, by: string, due?: string}} AgreementItem
 *   `due`: an ISO date `YYYY-MM-DD`, only when the keeper set one.
 *
 * @typedef {'opening'|'check_in'|'guidelines'|'round'|'closing'} StepKind
 * @typedef {{kind: StepKind, prompt: string}} OutlineStep
 * @typedef {{name: string, steps: OutlineStep[]}} Outline
 *   What `set_outline` sends: name 1–100 characters, 1–20 steps, prompt ≤ 500
 *   characters (empty only for `opening` and `closing`).
 * @typedef {{name: string, steps: OutlineStep[], current: number|null}} OutlineView
 *   `current`: the index of the step the circle is at, null before the first `next_step`.
 *
 * @typedef {object} AgreementView
 * @property {number} version
 * @property {AgreementItem[]} items
 * @property {string} text
 * @property {string} hash
 * @property {boolean} is_final
 * @property {PersonId[]} acknowledged_by
 *
 * @typedef {object} CircleView
 * @property {'circle'} stage
 * @property {PersonId} you
 * @property {Role} role
 * @property {string} title
 * @property {RoomKind} kind
 * @property {Phase} phase
 * @property {boolean} locked
 * @property {FloorMode} mode
 * @property {boolean} keeper_speaks_out_of_turn
 * @property {boolean} pause_video   While paused, only keepers' video is forwarded.
 * @property {number|null} turn_seconds
 * @property {EntryOrder|null} entry_order
 * @property {PersonView[]} people   In seat order.
 * @property {PersonId|null} holder
 * @property {PersonId|null} next
 * @property {RoundView|null} round
 * @property {PersonId[]} hands
 * @property {PersonId[]} granted
 * @property {TurnView|null} turn
 * @property {CaucusView|null} caucus   Your own caucus, if you are in one.
 * @property {CaucusView[]} caucuses    Every open caucus (keepers only).
 * @property {AgreementView|null} agreement
 * @property {OutlineView|null} [outline]  The room's outline (absent from older servers).
 * @property {string} [language]  The room's language, a BCP 47 primary tag (absent from older servers).
 * @property {string[]} [values]  The circle's values and guidelines, as the keeper recorded them.
 * @property {MinorView[]} [minors]  For a guardian: the minors they answer for.
 *
 * @typedef {{stage: 'consent', title: string, kind: RoomKind, terms: ConsentTerms, language?: string, guardian_needed?: boolean}} ConsentView
 *   `guardian_needed`: a minor whose guardian has not yet answered for them (send `consent` later).
 * @typedef {{person: PersonId, name: string, consent: 'needed'|'given', terms?: ConsentTerms}} MinorView
 *   For a guardian: a minor they answer for with `consent_for` (in `minors` of the lobby and circle views).
 * @typedef {{stage: 'lobby', title: string, kind: RoomKind, language?: string, minors?: MinorView[]}} LobbyView
 * @typedef {ConsentView|LobbyView|CircleView|{stage: 'gone'}} View
 *
 * Server → client messages:
 * @typedef {{type: 'welcome', session: number, you: PersonId}} WelcomeMsg
 * @typedef {{type: 'state', view: View}} StateMsg
 * @typedef {{type: 'pause_requested', by: PersonId}} PauseRequestedMsg
 * @typedef {{type: 'chat', from: PersonId, to: 'circle'|'keepers', text: string}} ChatMsg
 * @typedef {{type: 'time_up', person: PersonId}} TimeUpMsg
 * @typedef {{type: 'ok', ref: number}} OkMsg
 * @typedef {{type: 'error', code: string, message: string, ref?: number}} ErrorMsg
 * @typedef {{type: 'ended', reason: EndReason, feedback?: FeedbackOffer, support?: {name: string, contact: string}[], agreement?: {text: string, hash: string}, summary?: KeeperSummary}} EndedMsg
 *   `feedback`: offered only to a participant who was in the circle, after
 *   `left`, `room_closed` or `session_ended`, who has not answered yet.
 *   `summary`: to keepers only.
 * @typedef {{people: {name: string, role: Role, party: Party|null, outcome: 'took_part'|'withdrew'|'removed'|'did_not_enter'}[], rounds: number, agreement?: {version: number, items: number, is_final: boolean, acknowledged_by: string[]}}} KeeperSummary
 * @typedef {{id: string, text: string, translations?: Record<string, string>}} FeedbackQuestion
 * @typedef {{questions: FeedbackQuestion[], free_text: boolean, scale: number}} FeedbackOffer
 *   Every question is answered on a scale of 1 (not at all) to `scale` (completely).
 *
 * Keeper commands added with outlines (answered by `ok` or `error` like every command):
 * @typedef {{type: 'set_outline', outline: Outline}} SetOutlineCmd
 *   Replaces the room's outline and saves it to the program's library under its name.
 * @typedef {{type: 'next_step'}} NextStepCmd
 *   In session: ends a running round and moves to the next step (`outline_done`
 *   past the last step, `no_outline` without one).
 * @typedef {{type: 'set_values', values: string[]}} SetValuesCmd
 *   Replaces the circle's values (0–12 lines, each 1–120 characters): `bad_values`.
 *
 * Media (docs/protocol.md, "Media"): one RTCPeerConnection with the server
 * while in the circle; the tracks of person N arrive in the stream `peer-N`.
 * @typedef {{urls: string[], username?: string, credential?: string}} IceServer
 * @typedef {{candidate: string, sdpMid?: string|null, sdpMLineIndex?: number|null, usernameFragment?: string|null}} IceCandidateInit
 *   The browser's `RTCIceCandidateInit`, as `RTCIceCandidate.toJSON()` gives it.
 * @typedef {{type: 'media_ready', ice_servers: IceServer[], ice_transport_policy: 'all'|'relay'}} MediaReadyMsg
 *   You entered the circle (or came back on a new socket): build a fresh peer connection
 *   (with `iceTransportPolicy`: `relay` in a relay-only room) and offer.
 * @typedef {{type: 'media_ice_servers', ice_servers: IceServer[]}} MediaIceServersMsg
 *   Renewed TURN credentials while you stay: give them to the peer connection (`setConfiguration`).
 * @typedef {{type: 'media_offer', sdp: string}} MediaOfferMsg
 *   The server's tracks changed: answer with `media_answer`. Both ways: the client offers with it too.
 * @typedef {{type: 'media_answer', sdp: string}} MediaAnswerMsg   Both ways, answering the other's offer.
 * @typedef {{type: 'media_candidate', candidate: IceCandidateInit}} MediaCandidateMsg   Trickle ICE, both ways.
 * @typedef {{type: 'media_closed'}} MediaClosedMsg   You left the circle: close the peer connection.
 * @typedef {{type: 'speaking', person: PersonId, level_dbov: number, voice: boolean}} SpeakingMsg
 *   Someone you hear is talking (RFC 6464 level: 0 loudest, 127 silence); at most five a second per person.
 *
 * @typedef {'connecting'|'open'|'reconnecting'|'closed'} ConnectionStatus
 */

/** A command the server refused (or that could not be delivered). */
export class CommandError extends Error {
  /** @param {string} code  @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'CommandError';
    /** A stable machine-readable code, e.g. `not_holder`, or `connection_lost`. */
    this.code = code;
  }
}

/**
 * Refusals on arrival that will not change by trying again: the link is
 * bad, dead, or the room will not take this person now.
 */
const RETRYABLE_ARRIVAL = new Set(['server_error', 'room_gone', 'already_connected', 'rate_limited']);

/** Redirects followed in a row before we fall back to retrying with backoff. */
const MAX_REDIRECTS = 3;

/**
 * The WebSocket URL of a node's public URL (scheme `https:` becomes `wss:`,
 * `http:` becomes `ws:`, and `/ws` is appended to the path), or null if it is
 * not http(s) or would leave TLS: the token is sent there.
 * @param {unknown} url
 * @param {string} current  the WebSocket URL in use
 * @returns {string|null}
 */
export function redirectUrl(url, current) {
  let parsed;
  try {
    parsed = new URL(String(url));
  } catch {
    return null;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return null;
  if (parsed.protocol === 'http:' && String(current).startsWith('wss:')) return null;
  const scheme = parsed.protocol === 'https:' ? 'wss:' : 'ws:';
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${scheme}//${parsed.host}${path}/ws`;
}

/** Close codes after which we do not reconnect by ourselves. */
const FINAL_CLOSE = new Set([1008, 1009]);

/**
 * One person's connection to a room, with automatic reconnection.
 *
 * Events (each a `CustomEvent`, its `detail` the message or an object):
 * - `welcome` {@link WelcomeMsg}
 * - `state` {@link StateMsg}
 * - `pause_requested`, `chat`, `time_up`: the notices of the same name
 * - `media_ready` {@link MediaReadyMsg}, `media_offer`, `media_answer`,
 *   `media_candidate`, `media_ice_servers`, `media_closed`, `speaking` {@link SpeakingMsg}: the
 *   media negotiation (webrtc.js), sent back with `send('media_offer', {sdp})`,
 *   `send('media_answer', {sdp})` and `send('media_candidate', {candidate})`
 * - `ended` {@link EndedMsg}: the session is over; no reconnection follows
 * - `refused` {@link ErrorMsg}: arrival refused for good (bad link, closed room…)
 * - `redirect` {type: 'redirect', url: string}: another node runs the room; the
 *   connection moves there by itself (docs/protocol.md, "Hello")
 * - `error` {@link ErrorMsg}: an error that answers no command of ours
 * - `status` {status: ConnectionStatus, attempt: number, retryInMs?: number}
 */
export class CircleConnection extends EventTarget {
  /**
   * @param {object} options
   * @param {string} options.token  The invitation token (from the link's fragment).
   * @param {string} [options.url]  Defaults to `/ws` on this page's host.
   * @param {typeof WebSocket} [options.WebSocketImpl]
   * @param {number} [options.baseDelayMs]  First reconnection delay.
   * @param {number} [options.maxDelayMs]   Longest reconnection delay.
   */
  constructor({ token, url, WebSocketImpl, baseDelayMs = 500, maxDelayMs = 15000 }) {
    super();
    /** @type {string} kept private: never put into a URL or a log. */
    this._token = token;
    this._url = url || defaultUrl();
    /** Where we started: after any failure we come back here, and it redirects anew. */
    this._home = this._url;
    this._WebSocket = WebSocketImpl || WebSocket;
    this._baseDelayMs = baseDelayMs;
    this._maxDelayMs = maxDelayMs;
    /** @type {WebSocket|null} */
    this._socket = null;
    this._nextRef = 1;
    /** @type {Map<number, {resolve: (v: OkMsg) => void, reject: (e: CommandError) => void}>} */
    this._pending = new Map();
    this._attempt = 0;
    this._timer = 0;
    /** True once we stop for good (ended, refused, or `close()`). */
    this._finished = false;
    /** Welcome seen on the current socket: errors without `ref` are no longer arrival refusals. */
    this._welcomed = false;
    /** The last arrival refusal on this socket was one worth retrying. */
    this._retryableRefusal = false;
    /** Redirects followed since the last welcome: a loop between nodes stops. */
    this._redirects = 0;
    /** This socket was redirected: its close reconnects at once, to the new URL. */
    this._redirected = false;
    /** @type {ConnectionStatus} */
    this.status = 'closed';
    /** @type {PersonId|null} */
    this.you = null;
  }

  /** Opens the socket and says hello. */
  connect() {
    if (this._finished) return;
    clearTimeout(this._timer);
    this._welcomed = false;
    this._retryableRefusal = false;
    this._redirected = false;
    this._setStatus(this._attempt === 0 ? 'connecting' : 'reconnecting');
    let socket;
    try {
      socket = new this._WebSocket(this._url);
    } catch {
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    socket.addEventListener('open', () => {
      socket.send(JSON.stringify({ type: 'hello', v: PROTOCOL_VERSION, token: this._token }));
    });
    socket.addEventListener('message', (event) => {
      if (socket === this._socket) this._onFrame(event.data);
    });
    socket.addEventListener('close', (event) => {
      if (socket === this._socket) this._onClose(event.code);
    });
  }

  /** Reconnect now instead of waiting for the next attempt. */
  retryNow() {
    if (this._finished || this.status === 'open') return;
    this.connect();
  }

  /**
   * Sends a command; resolves on its `ok`, rejects with a {@link CommandError}
   * on its `error` (or if the connection goes before the answer).
   * @param {string} type  The command, e.g. `pass` or `start_round`.
   * @param {Record<string, unknown>} [fields]
   * @returns {Promise<OkMsg>}
   */
  send(type, fields = {}) {
    const socket = this._socket;
    if (!socket || socket.readyState !== 1 || !this._welcomed) {
      return Promise.reject(new CommandError('not_connected', 'not connected'));
    }
    const ref = this._nextRef++;
    return new Promise((resolve, reject) => {
      this._pending.set(ref, { resolve, reject });
      socket.send(JSON.stringify({ ...fields, type, ref }));
    });
  }

  /** Closes for good (the page goes away); the server starts the grace period. */
  close() {
    this._finished = true;
    clearTimeout(this._timer);
    if (this._socket) this._socket.close(1000);
    this._socket = null;
    this._failPending('connection_closed');
    this._setStatus('closed');
  }

  /** @param {string} data */
  _onFrame(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    if (!msg || typeof msg.type !== 'string') return;
    switch (msg.type) {
      case 'ok': {
        const waiting = this._pending.get(msg.ref);
        if (waiting) {
          this._pending.delete(msg.ref);
          waiting.resolve(msg);
        }
        return;
      }
      case 'error': {
        if (typeof msg.ref === 'number' && this._pending.has(msg.ref)) {
          const waiting = this._pending.get(msg.ref);
          this._pending.delete(msg.ref);
          waiting.reject(new CommandError(msg.code, msg.message));
          return;
        }
        if (!this._welcomed && !RETRYABLE_ARRIVAL.has(msg.code)) {
          this._finished = true;
          this._emit('refused', msg);
          return;
        }
        if (!this._welcomed) this._retryableRefusal = true;
        this._emit('error', msg);
        return;
      }
      case 'redirect': {
        const next = !this._welcomed && this._redirects < MAX_REDIRECTS ? redirectUrl(msg.url, this._url) : null;
        if (next) {
          this._redirects += 1;
          this._url = next;
          // Not a failure: the close that follows reconnects at once, there.
          this._redirected = true;
          this._retryableRefusal = true;
          this._emit('redirect', msg);
        }
        return;
      }
      case 'welcome':
        this._welcomed = true;
        this._redirects = 0;
        this._attempt = 0;
        this.you = msg.you;
        this._setStatus('open');
        this._emit('welcome', msg);
        return;
      case 'ended':
        this._finished = true;
        this._failPending('session_ended');
        this._emit('ended', msg);
        return;
      default:
        // state, pause_requested, chat, time_up, media_*, speaking, and anything newer.
        this._emit(msg.type, msg);
    }
  }

  /** @param {number} code */
  _onClose(code) {
    this._socket = null;
    this._failPending('connection_lost');
    if (this._finished) {
      this._setStatus('closed');
      return;
    }
    if (FINAL_CLOSE.has(code) && !this._welcomed && !this._retryableRefusal) {
      // Refused without a reason we understood; do not hammer the server.
      this._finished = true;
      this._emit('refused', { type: 'error', code: 'connection_refused', message: 'connection refused' });
      this._setStatus('closed');
      return;
    }
    if (this._redirected) {
      this.connect();
      return;
    }
    // The node we were sent to is gone, or the room moved on: ask where we
    // started, which knows the room's node now (docs/protocol.md, "Hello").
    this._url = this._home;
    this._redirects = 0;
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    this._attempt += 1;
    // Exponential backoff with full jitter, so many clients do not return at once.
    const ceiling = Math.min(this._maxDelayMs, this._baseDelayMs * 2 ** (this._attempt - 1));
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this._setStatus('reconnecting', delay);
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.connect(), delay);
  }

  /** @param {string} code */
  _failPending(code) {
    for (const { reject } of this._pending.values()) {
      reject(new CommandError(code, code.replaceAll('_', ' ')));
    }
    this._pending.clear();
  }

  /** @param {ConnectionStatus} status @param {number} [retryInMs] */
  _setStatus(status, retryInMs) {
    this.status = status;
    this._emit('status', { status, attempt: this._attempt, retryInMs });
  }

  /** @param {string} type @param {unknown} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * What an invitation link's fragment carries: `#t=TOKEN&lang=es`. The
 * language is no secret and no right; an unusable value is dropped.
 * @param {string} hash  `location.hash`
 * @returns {{token: string|null, lang: string|null}}
 */
export function readJoinFragment(hash) {
  const params = new URLSearchParams(String(hash).replace(/^#/, ''));
  const lang = params.get('lang');
  return {
    token: params.get('t') || null,
    lang: lang && /^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(lang) ? lang : null,
  };
}

/**
 * Posts the answers to the feedback questionnaire (or the wish not to
 * answer) with the invitation token as the credential. Works after the
 * socket has closed.
 * @param {string} token
 * @param {{answers: Record<string, number>, comment?: string}|{declined: true}} body
 * @param {{url?: string, fetchImpl?: typeof fetch}} [options]
 * @returns {Promise<void>}  rejects with a {@link CommandError}: `invalid_token`,
 *   `not_eligible`, `already_answered`, `invalid_answers`, `too_large`,
 *   `connection_lost`, or `http_<status>`
 */
export async function sendFeedback(token, body, { url = '/feedback', fetchImpl } = {}) {
  const doFetch = fetchImpl || fetch;
  let response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new CommandError('connection_lost', 'connection lost');
  }
  if (response.ok) return;
  let error = null;
  try {
    error = (await response.json())?.error ?? null;
  } catch {
    // Not JSON (a proxy, or the body limit): the status says enough.
  }
  if (error && typeof error.code === 'string') throw new CommandError(error.code, String(error.message ?? error.code));
  if (response.status === 413) throw new CommandError('too_large', 'too large');
  throw new CommandError(`http_${response.status}`, `HTTP ${response.status}`);
}

function defaultUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}
