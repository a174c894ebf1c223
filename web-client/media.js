// The person's own camera and microphone: choice, preview, and the hook
// where the WebRTC negotiation with the server's SFU will go.
//
// The server does not carry media yet (the SFU is being built). Everything
// here is local to the browser until then: nothing is sent anywhere.

/**
 * @typedef {object} MediaSettings
 * @property {string} cameraId      '' = browser default
 * @property {string} microphoneId  '' = browser default
 * @property {boolean} audioOnly    do not use the camera at all
 * @property {boolean} hideSelf     do not show me my own video
 */

const SETTINGS_KEY = 'ck.media';

/** The person's own media, shared by the device check and the circle views. */
class LocalMedia extends EventTarget {
  constructor() {
    super();
    /** @type {MediaSettings} */
    this.settings = { cameraId: '', microphoneId: '', audioOnly: false, hideSelf: false, ...loadSettings() };
    /** @type {MediaStream|null} */
    this.stream = null;
    /** @type {string|null} an error name from getUserMedia, if the last start failed */
    this.error = null;
  }

  get supported() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  /** @param {Partial<MediaSettings>} change */
  async update(change) {
    const before = this.settings;
    this.settings = { ...before, ...change };
    saveSettings(this.settings);
    const devicesChanged = before.cameraId !== this.settings.cameraId
      || before.microphoneId !== this.settings.microphoneId
      || before.audioOnly !== this.settings.audioOnly;
    if (this.stream && devicesChanged) await this.start();
    else this._changed();
  }

  /** Starts (or restarts) the camera and microphone with the current settings. */
  async start() {
    if (!this.supported) {
      this.error = 'unsupported';
      this._changed();
      return;
    }
    this.stop(false);
    const { cameraId, microphoneId, audioOnly } = this.settings;
    const audio = microphoneId ? { deviceId: { exact: microphoneId } } : true;
    const video = audioOnly ? false : (cameraId ? { deviceId: { exact: cameraId } } : { width: { ideal: 640 }, height: { ideal: 480 } });
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio, video });
      this.error = null;
    } catch (error) {
      this.stream = null;
      this.error = error && error.name ? error.name : 'Error';
    }
    this._changed();
    mediaHooks.onLocalStreamChanged(this.stream);
  }

  /** Stops every track. */
  stop(notify = true) {
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
    }
    this.stream = null;
    if (notify) {
      this._changed();
      mediaHooks.onLocalStreamChanged(null);
    }
  }

  /** @returns {Promise<{cameras: MediaDeviceInfo[], microphones: MediaDeviceInfo[]}>} */
  async devices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return { cameras: [], microphones: [] };
    const all = await navigator.mediaDevices.enumerateDevices();
    return {
      cameras: all.filter((d) => d.kind === 'videoinput'),
      microphones: all.filter((d) => d.kind === 'audioinput'),
    };
  }

  _changed() {
    this.dispatchEvent(new Event('change'));
  }
}

function loadSettings() {
  try {
    const saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || '{}');
    return {
      cameraId: typeof saved.cameraId === 'string' ? saved.cameraId : '',
      microphoneId: typeof saved.microphoneId === 'string' ? saved.microphoneId : '',
      audioOnly: saved.audioOnly === true,
      hideSelf: saved.hideSelf === true,
    };
  } catch {
    return {};
  }
}

function saveSettings(settings) {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify(settings));
  } catch {
    // Private mode: settings simply last for this page.
  }
}

export const localMedia = new LocalMedia();

// ---------------------------------------------------------------------------
// HOOK(WebRTC): the SFU negotiation goes here, and only here.
//
// When the server's SFU lands (see src/media/ and docs/protocol.md), these
// functions will:
//   - onAdmitted: create one RTCPeerConnection (no third-party STUN by
//     default, SPEC §5.10), add the tracks of `localMedia.stream` (audio
//     only if `audioOnly`), send the SDP offer over the same WebSocket with
//     `connection.send('offer', {sdp})`-style messages (names to follow the
//     server), apply the answer and trickle ICE candidates both ways;
//   - onLocalStreamChanged: replaceTrack() on the senders when the person
//     picks another camera or microphone, or turns the camera off;
//   - onRemoteTrack: call `attachRemoteStream(personId, stream)` from the UI
//     (circle.js puts the video into that person's seat);
//   - onLeft: close the peer connection.
// The server decides what is forwarded (talking piece, caucus, pause): the
// client never needs to stop sending to enforce a rule.
// ---------------------------------------------------------------------------
export const mediaHooks = {
  /** @type {(connection: import('./protocol.js').CircleConnection) => void} */
  onAdmitted(connection) {
    void connection; // TODO(SFU): start the WebRTC negotiation.
  },
  /** @type {(stream: MediaStream|null) => void} */
  onLocalStreamChanged(stream) {
    void stream; // TODO(SFU): replace the tracks on the peer connection.
  },
  /** Set by the circle view: puts a remote stream into a person's seat. */
  attachRemoteStream: /** @type {(personId: number, stream: MediaStream) => void} */ (() => {}),
  onLeft() {
    // TODO(SFU): close the peer connection.
  },
};
