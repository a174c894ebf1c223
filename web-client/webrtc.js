// The person's WebRTC link to the server's SFU, negotiated over the same
// socket as everything else (docs/protocol.md, "Media"). One
// RTCPeerConnection while the person is in the circle, and none otherwise:
// it is built on `media_ready` and closed on `media_closed`, `ended`, or a
// lost socket (after a reconnection the server sends `media_ready` again).
//
// The server decides what is forwarded (talking piece, caucus, pause): the
// client never stops sending to enforce a rule, and never needs to know who
// may speak to play what arrives.
//
// Negotiation follows the "perfect negotiation" pattern with the client as
// the impolite side: on glare the server rolls back its own offer, answers
// ours and offers again afterwards, so we simply ignore its colliding offer.

import { localMedia } from './media.js';

/** @typedef {import('./protocol.js').CircleConnection} CircleConnection */
/** @typedef {import('./protocol.js').PersonId} PersonId */

/** How long a "speaking" ring stays after the last `speaking` message with voice. */
const SPEAKING_HOLD_MS = 900;

/** How often the connection's quality is sampled. */
const QUALITY_EVERY_MS = 2000;

/** @typedef {'none'|'connecting'|'good'|'weak'|'lost'} Quality */

/**
 * The quality of the link to the server, from one sample: the connection's
 * state, the round-trip time in seconds, and the share of packets lost since
 * the last sample. Weak is what a person notices: sound that stutters
 * (a few per cent lost) or answers that come late (half a second).
 * @param {{state: RTCPeerConnectionState, rtt?: number|null, loss?: number|null}} sample
 * @returns {Quality}
 */
export function qualityOf({ state, rtt = null, loss = null }) {
  if (state === 'failed' || state === 'disconnected') return 'lost';
  if (state !== 'connected') return state === 'closed' ? 'none' : 'connecting';
  if ((rtt !== null && rtt > 0.5) || (loss !== null && loss > 0.05)) return 'weak';
  return 'good';
}

/**
 * What arrives from the others: one media stream per person (`peer-N`), and
 * who is speaking now. Events: `streams` (a stream came, went, or its tracks
 * changed) and `speaking` (detail: {person, speaking}).
 */
class RemoteMedia extends EventTarget {
  constructor() {
    super();
    /** @type {Map<PersonId, MediaStream>} */
    this.streams = new Map();
    /** @type {Map<PersonId, number>} person → timer that ends their ring */
    this._speaking = new Map();
    /** Audio that the browser would not start without a click on the page. */
    this.audioBlocked = false;
    /** The link's quality now (event `quality` when it changes). @type {Quality} */
    this.quality = 'none';
  }

  /** @param {Quality} quality */
  _quality(quality) {
    if (quality === this.quality) return;
    this.quality = quality;
    this._emit('quality', { quality });
  }

  /** @param {PersonId} person */
  isSpeaking(person) {
    return this._speaking.has(person);
  }

  /**
   * The stream has a video track that is receiving frames.
   * @param {PersonId} person
   */
  hasVideo(person) {
    const stream = this.streams.get(person);
    return Boolean(stream && stream.getVideoTracks().some((track) => track.readyState === 'live' && !track.muted));
  }

  /** @param {{person: PersonId, voice: boolean}} msg */
  _speakingMsg(msg) {
    const was = this._speaking.has(msg.person);
    clearTimeout(this._speaking.get(msg.person));
    if (!msg.voice) {
      this._speaking.delete(msg.person);
      if (was) this._emit('speaking', { person: msg.person, speaking: false });
      return;
    }
    this._speaking.set(msg.person, setTimeout(() => {
      this._speaking.delete(msg.person);
      this._emit('speaking', { person: msg.person, speaking: false });
    }, SPEAKING_HOLD_MS));
    if (!was) this._emit('speaking', { person: msg.person, speaking: true });
  }

  _clear() {
    for (const timer of this._speaking.values()) clearTimeout(timer);
    const hadSpeakers = this._speaking.size > 0;
    this._speaking.clear();
    this.streams.clear();
    this.audioBlocked = false;
    this._emit('streams', null);
    if (hadSpeakers) this._emit('speaking', { person: null, speaking: false });
  }

  /** @param {string} type @param {unknown} detail */
  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

export const remoteMedia = new RemoteMedia();

/** Hidden <audio> elements, one per remote stream, outside the screens (which come and go). */
const audioShelf = document.createElement('div');
audioShelf.className = 'remote-audio';
audioShelf.hidden = true;
audioShelf.setAttribute('aria-hidden', 'true');

/** One peer connection, from `media_ready` to its close. */
class MediaSession {
  /**
   * @param {CircleConnection} connection
   * @param {RTCIceServer[]} iceServers
   * @param {RTCIceTransportPolicy} iceTransportPolicy `relay` in a relay-only room
   */
  constructor(connection, iceServers, iceTransportPolicy) {
    this.connection = connection;
    this.pc = new RTCPeerConnection({
      iceServers, iceTransportPolicy, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require',
    });
    this.closed = false;
    this.makingOffer = false;
    this.ignoreOffer = false;
    /** The protocol starts with our offer; until it is out, the server's offers are glare. */
    this.offered = false;
    /** Candidates that came before the remote description. @type {RTCIceCandidateInit[]} */
    this.earlyCandidates = [];
    /** Incoming messages, applied one at a time and in order. */
    this.queue = Promise.resolve();
    /** @type {{audio: RTCRtpSender|null, video: RTCRtpSender|null}} */
    this.senders = { audio: null, video: null };
    /** @type {Map<RTCRtpReceiver, string>} receiver → stream id (`peer-N`) */
    this.receiverStreams = new Map();
    /** @type {Map<string, HTMLAudioElement>} */
    this.audio = new Map();

    this.pc.addEventListener('negotiationneeded', () => this._offer());
    this.pc.addEventListener('icecandidate', (event) => {
      // A null candidate ends gathering; the server needs no such notice.
      if (event.candidate && event.candidate.candidate) {
        this._send('media_candidate', { candidate: event.candidate.toJSON() });
      }
    });
    this.pc.addEventListener('track', (event) => this._onTrack(event));
    this._onLocal = () => this._syncLocal();
    localMedia.addEventListener('change', this._onLocal);
    /** Packet totals at the last sample, and the class seen then (a change must show twice). */
    this.lastCounts = { received: 0, lost: 0 };
    this.lastClass = 'connecting';
    remoteMedia._quality('connecting');
    this.pc.addEventListener('connectionstatechange', () => this._sample());
    this.qualityTimer = setInterval(() => this._sample(), QUALITY_EVERY_MS);
  }

  /** Samples the link's quality; a lost link shows at once, other changes once confirmed. */
  async _sample() {
    const state = this.pc.connectionState;
    let rtt = null;
    let loss = null;
    if (state === 'connected') {
      const report = await this.pc.getStats().catch(() => null);
      if (this.closed || !report) return;
      let received = 0;
      let lost = 0;
      report.forEach((stat) => {
        if (stat.type === 'candidate-pair' && stat.nominated && stat.state === 'succeeded' && typeof stat.currentRoundTripTime === 'number') rtt = stat.currentRoundTripTime;
        if (stat.type === 'inbound-rtp') {
          received += stat.packetsReceived || 0;
          lost += Math.max(0, stat.packetsLost || 0);
        }
      });
      const got = received - this.lastCounts.received;
      const missed = lost - this.lastCounts.lost;
      this.lastCounts = { received, lost };
      // Too few packets say nothing about loss (a quiet moment, a paused circle).
      if (got + missed >= 20) loss = missed / (got + missed);
    }
    if (this.closed) return;
    const now = qualityOf({ state, rtt, loss });
    if (now === 'lost' || now === this.lastClass || remoteMedia.quality === 'connecting') remoteMedia._quality(now);
    this.lastClass = now;
  }

  /** Adds the person's own tracks (this starts the first offer). */
  start() {
    this._syncLocal();
    // Nothing to send (no devices, or devices off): still receive from the others.
    if (!this.senders.audio && !this.senders.video) {
      this.pc.addTransceiver('audio', { direction: 'recvonly' });
      this.pc.addTransceiver('video', { direction: 'recvonly' });
    }
  }

  /** The camera and microphone as chosen now: replace, add or blank our tracks. */
  _syncLocal() {
    if (this.closed) return;
    const stream = localMedia.stream;
    const sendVideo = !localMedia.settings.audioOnly;
    const want = {
      audio: stream?.getAudioTracks()[0] || null,
      // "Hide my own video" hides only the self view; audio only stops the camera.
      video: sendVideo ? stream?.getVideoTracks()[0] || null : null,
    };
    for (const kind of /** @type {const} */ (['audio', 'video'])) {
      const track = want[kind];
      const sender = this.senders[kind];
      if (sender) {
        // Same m-line, no renegotiation; `null` sends nothing.
        if (sender.track !== track) sender.replaceTrack(track).catch(() => {});
      } else if (track) {
        this.senders[kind] = this.pc.addTrack(track, stream);
      }
    }
  }

  /** @param {RTCTrackEvent} event */
  _onTrack(event) {
    for (const stream of event.streams) {
      const match = /^peer-(\d+)$/.exec(stream.id);
      if (!match) continue;
      const person = Number(match[1]);
      this.receiverStreams.set(event.receiver, stream.id);
      const changed = () => this._streamChanged(person, stream);
      if (!remoteMedia.streams.has(person) || remoteMedia.streams.get(person) !== stream) {
        stream.addEventListener('removetrack', changed);
        stream.addEventListener('addtrack', changed);
      }
      event.track.addEventListener('mute', changed);
      event.track.addEventListener('unmute', changed);
      event.track.addEventListener('ended', changed);
      this._streamChanged(person, stream);
    }
  }

  /** @param {PersonId} person @param {MediaStream} stream */
  _streamChanged(person, stream) {
    if (this.closed) return;
    if (stream.getTracks().length === 0) {
      if (remoteMedia.streams.get(person) === stream) remoteMedia.streams.delete(person);
      this._dropAudio(stream.id);
    } else {
      remoteMedia.streams.set(person, stream);
      if (stream.getAudioTracks().length) this._playAudio(stream);
      else this._dropAudio(stream.id);
    }
    remoteMedia._emit('streams', person);
  }

  /** @param {MediaStream} stream */
  _playAudio(stream) {
    let audio = this.audio.get(stream.id);
    if (!audio) {
      audio = document.createElement('audio');
      audio.autoplay = true;
      audio.dataset.stream = stream.id;
      this.audio.set(stream.id, audio);
      if (!audioShelf.isConnected) document.body.append(audioShelf);
      audioShelf.append(audio);
    }
    if (audio.srcObject !== stream) {
      audio.srcObject = stream;
      audio.play().catch((error) => {
        if (error && error.name === 'NotAllowedError') {
          remoteMedia.audioBlocked = true;
          remoteMedia._emit('streams', null);
        }
      });
    }
  }

  /** @param {string} id */
  _dropAudio(id) {
    const audio = this.audio.get(id);
    if (!audio) return;
    audio.srcObject = null;
    audio.remove();
    this.audio.delete(id);
  }

  async _offer() {
    if (this.closed) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      if (this.closed || !this.pc.localDescription) return;
      this._send('media_offer', { sdp: this.pc.localDescription.sdp });
      this.offered = true;
    } catch (error) {
      warn('offer', error);
    } finally {
      this.makingOffer = false;
    }
  }

  /** @param {{type: string, sdp?: string, candidate?: RTCIceCandidateInit}} msg */
  receive(msg) {
    this.queue = this.queue.then(() => this._apply(msg)).catch((error) => warn(msg.type, error));
  }

  /** @param {{type: string, sdp?: string, candidate?: RTCIceCandidateInit}} msg */
  async _apply(msg) {
    if (this.closed) return;
    const pc = this.pc;
    switch (msg.type) {
      case 'media_offer': {
        const collision = !this.offered || this.makingOffer || pc.signalingState !== 'stable';
        // The server is polite: it gives way and offers again after our exchange.
        // (Our first offer always goes first, so the DTLS roles are settled by it.)
        this.ignoreOffer = collision;
        if (collision) return;
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        await this._addEarlyCandidates();
        await pc.setLocalDescription();
        if (this.closed || !pc.localDescription) return;
        this._send('media_answer', { sdp: pc.localDescription.sdp });
        return;
      }
      case 'media_answer':
        if (pc.signalingState !== 'have-local-offer') return;
        this.ignoreOffer = false;
        await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        await this._addEarlyCandidates();
        return;
      case 'media_candidate': {
        const candidate = msg.candidate;
        if (!candidate || !candidate.candidate) return;
        if (!pc.remoteDescription) {
          this.earlyCandidates.push(candidate);
          return;
        }
        try {
          await pc.addIceCandidate(candidate);
        } catch (error) {
          if (!this.ignoreOffer) throw error;
        }
        return;
      }
      default:
    }
  }

  async _addEarlyCandidates() {
    for (const candidate of this.earlyCandidates.splice(0)) {
      await this.pc.addIceCandidate(candidate).catch((error) => warn('candidate', error));
    }
  }

  /** @param {string} type @param {Record<string, unknown>} fields */
  _send(type, fields) {
    if (this.closed) return;
    // With a `ref` the server answers each step, so a refusal is ours to
    // handle quietly here and never shown as a problem with a command.
    this.connection.send(type, fields).catch((error) => {
      if (!this.closed && error.code !== 'connection_lost' && error.code !== 'session_ended') warn(type, error);
    });
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.qualityTimer);
    localMedia.removeEventListener('change', this._onLocal);
    for (const id of [...this.audio.keys()]) this._dropAudio(id);
    this.pc.close();
    remoteMedia._clear();
    remoteMedia._quality('none');
  }

  /**
   * Per remote stream, what has arrived so far: the inbound RTP counters of
   * its audio and video.
   * @returns {Promise<Record<string, {audio: Counters, video: Counters}>>}
   */
  async stats() {
    /** @type {Record<string, {audio: Counters, video: Counters}>} */
    const out = {};
    for (const [receiver, streamId] of this.receiverStreams) {
      const kind = receiver.track.kind === 'audio' ? 'audio' : 'video';
      out[streamId] ||= { audio: zero(), video: zero() };
      const report = await receiver.getStats();
      report.forEach((stat) => {
        if (stat.type !== 'inbound-rtp') return;
        out[streamId][kind].packetsReceived += stat.packetsReceived || 0;
        out[streamId][kind].bytesReceived += stat.bytesReceived || 0;
        if (kind === 'video') out[streamId][kind].framesDecoded += stat.framesDecoded || 0;
      });
    }
    return out;
  }

  /**
   * How the media travels: the local candidate type (`host`, `srflx`,
   * `prflx` or `relay`) of the pair in use, or null before one is chosen.
   * @returns {Promise<string|null>}
   */
  async path() {
    const report = await this.pc.getStats();
    let pairId = null;
    report.forEach((stat) => {
      if (stat.type === 'transport' && stat.selectedCandidatePairId) pairId = stat.selectedCandidatePairId;
    });
    // Firefox names no selected pair on the transport: the nominated, succeeded one is it.
    if (!pairId) {
      report.forEach((stat) => {
        if (stat.type === 'candidate-pair' && stat.nominated && stat.state === 'succeeded') pairId = stat.id;
      });
    }
    const pair = pairId && report.get(pairId);
    const local = pair && report.get(pair.localCandidateId);
    return local ? local.candidateType : null;
  }
}

/** @typedef {{packetsReceived: number, bytesReceived: number, framesDecoded: number}} Counters */
function zero() {
  return { packetsReceived: 0, bytesReceived: 0, framesDecoded: 0 };
}

function warn(step, error) {
  console.warn(`media: ${step} failed:`, error && error.message ? error.message : error);
}

/** @type {MediaSession|null} */
let session = null;

/**
 * Follows a connection's media messages for the life of the page.
 * @param {CircleConnection} connection
 */
export function followMedia(connection) {
  const end = () => {
    session?.close();
    session = null;
  };
  connection.addEventListener('media_ready', async (event) => {
    end();
    if (typeof RTCPeerConnection !== 'function') return;
    const iceServers = Array.isArray(event.detail.ice_servers) ? event.detail.ice_servers : [];
    const policy = event.detail.ice_transport_policy === 'relay' ? 'relay' : 'all';
    const mine = new MediaSession(connection, iceServers, policy);
    session = mine;
    // The camera and microphone come on with the circle, unless the person
    // turned them off themselves (or the browser refused them before).
    if (!localMedia.stream && localMedia.wanted && !localMedia.error) await localMedia.start();
    if (session === mine) mine.start();
  });
  for (const type of ['media_offer', 'media_answer', 'media_candidate']) {
    connection.addEventListener(type, (event) => session?.receive(event.detail));
  }
  // Renewed TURN credentials: the connection keeps its relay with them.
  connection.addEventListener('media_ice_servers', (event) => {
    if (!session || !Array.isArray(event.detail.ice_servers)) return;
    try {
      session.pc.setConfiguration({ ...session.pc.getConfiguration(), iceServers: event.detail.ice_servers });
    } catch {
      // A closed connection takes no configuration; the next `media_ready` brings one.
    }
  });
  connection.addEventListener('media_closed', end);
  connection.addEventListener('ended', end);
  connection.addEventListener('refused', end);
  connection.addEventListener('speaking', (event) => {
    if (session) remoteMedia._speakingMsg(event.detail);
  });
  // The server's peer for us goes with the socket; a new socket brings a new `media_ready`.
  connection.addEventListener('status', (event) => {
    if (event.detail.status !== 'open') end();
  });
}

/** Starts audio that the browser held back until the person clicked on the page. */
export function resumeAudio() {
  remoteMedia.audioBlocked = false;
  for (const audio of audioShelf.querySelectorAll('audio')) audio.play().catch(() => {});
  remoteMedia._emit('streams', null);
}

// What has arrived, per remote stream (read by the browser tests, and handy
// when helping someone whose sound does not work): `null` when this page has
// no peer connection at all.
Object.defineProperty(window, '__circleKeeperStats', {
  value: async () => (session
    ? { connectionState: session.pc.connectionState, path: await session.path(), streams: await session.stats() }
    : null),
});
