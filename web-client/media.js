// The person's own camera and microphone: choice, preview and settings.
// What is sent to the circle, and how, is webrtc.js's business: it follows
// this object's `change` events (a new stream, audio only, devices off).

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
    /** False once the person turned the devices off themselves: entering the circle keeps them off. */
    this.wanted = true;
    /** The one-tap toggles of the circle: a track turned off sends silence or black, nothing of the person. */
    this.micOn = true;
    this.cameraOn = true;
  }

  /** Turns the microphone's track on or off (it stays the same track: nothing is renegotiated). */
  setMic(on) {
    this.micOn = on;
    this._applyToggles();
    this._changed();
  }

  /** Turns the camera's track on or off. */
  setCamera(on) {
    this.cameraOn = on;
    this._applyToggles();
    this._changed();
  }

  /** Is a live microphone (camera) track sending now? */
  get sendingAudio() {
    return Boolean(this.micOn && this.stream?.getAudioTracks().some((track) => track.readyState === 'live'));
  }

  get sendingVideo() {
    return Boolean(this.cameraOn && !this.settings.audioOnly && this.stream?.getVideoTracks().some((track) => track.readyState === 'live'));
  }

  _applyToggles() {
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = this.micOn;
    for (const track of this.stream?.getVideoTracks() ?? []) track.enabled = this.cameraOn;
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
    this.wanted = true;
    const { cameraId, microphoneId, audioOnly } = this.settings;
    const audio = microphoneId ? { deviceId: { exact: microphoneId } } : true;
    const video = audioOnly ? false : (cameraId ? { deviceId: { exact: cameraId } } : { width: { ideal: 640 }, height: { ideal: 480 } });
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio, video });
      this.error = null;
      this._applyToggles();
    } catch (error) {
      this.stream = null;
      this.error = error && error.name ? error.name : 'Error';
    }
    this._changed();
  }

  /** Stops every track. */
  stop(notify = true) {
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
    }
    this.stream = null;
    if (notify) this._changed();
  }

  /** The person turns camera and microphone off: they stay off until turned on again. */
  turnOff() {
    this.wanted = false;
    this.stop();
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
