// The microphone's samples, low-passed and resampled to 16 kHz mono, as s16le chunks.
//
// Runs on the audio thread. Every input sample goes through a windowed-sinc low-pass (cut-off
// a little under 8 kHz, so nothing above the new Nyquist frequency folds back into speech),
// and the filtered signal is read at the 16 kHz instants by linear interpolation, which
// handles ratios that are not whole numbers (44.1 kHz). Chunks of CHUNK_SAMPLES go to the
// page as transferred ArrayBuffers of little-endian 16-bit samples. The page can ask for what
// is buffered right away with {type: "flush", id}; the answer is the chunk (if any), then
// {type: "flushed", id}.

const TARGET_RATE = 16000;
const CHUNK_SAMPLES = 512; // 32 ms at 16 kHz
const CUTOFF_HZ = 7000;
const TAPS_PER_STEP = 16; // half the filter's length, in output samples

/** Blackman-windowed sinc low-pass taps, normalised to unit gain at DC. */
function lowPass(rate, cutoffHz, count) {
  const taps = new Float32Array(count);
  const fc = cutoffHz / rate;
  const middle = (count - 1) / 2;
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const x = i - middle;
    const sinc = x === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * x) / (Math.PI * x);
    const window = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (count - 1))
      + 0.08 * Math.cos((4 * Math.PI * i) / (count - 1));
    taps[i] = sinc * window;
    sum += taps[i];
  }
  for (let i = 0; i < count; i++) taps[i] /= sum;
  return taps;
}

class PcmProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    // `sampleRate` is the AudioContext's rate, a global of the worklet scope.
    this.step = sampleRate / TARGET_RATE; // input samples per output sample
    const count = this.step > 1 ? 2 * Math.ceil(this.step * TAPS_PER_STEP) + 1 : 1;
    this.taps = this.step > 1 ? lowPass(sampleRate, CUTOFF_HZ, count) : new Float32Array([1]);
    this.history = new Float32Array(this.taps.length * 2); // each sample twice: no wrap-around
    this.at = 0;
    this.previous = 0; // the last filtered sample
    this.offset = 0; // where the next output falls, in input samples after `previous`
    this.newChunk();
    this.port.onmessage = (event) => {
      if (event.data && event.data.type === "flush") {
        this.send();
        this.port.postMessage({ type: "flushed", id: event.data.id });
      }
    };
  }

  newChunk() {
    this.buffer = new ArrayBuffer(CHUNK_SAMPLES * 2);
    this.view = new DataView(this.buffer);
    this.filled = 0;
  }

  send() {
    if (this.filled === 0) return;
    const bytes = this.buffer.slice(0, this.filled * 2);
    this.newChunk();
    this.port.postMessage(bytes, [bytes]);
  }

  /** One filtered sample: the newest input through the FIR. */
  filter(sample) {
    const n = this.taps.length;
    if (n === 1) return sample;
    this.history[this.at] = sample;
    this.history[this.at + n] = sample;
    this.at = (this.at + 1) % n;
    // history[at .. at+n) now holds the last n inputs, oldest first.
    let acc = 0;
    const base = this.at;
    for (let i = 0; i < n; i++) acc += this.taps[i] * this.history[base + i];
    return acc;
  }

  emit(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    const int = clamped < 0 ? Math.round(clamped * 0x8000) : Math.round(clamped * 0x7fff);
    this.view.setInt16(this.filled * 2, int, true);
    this.filled += 1;
    if (this.filled === CHUNK_SAMPLES) this.send();
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const channel = input[0]; // the node mixes its input down to one channel
    for (let i = 0; i < channel.length; i++) {
      const current = this.filter(channel[i]);
      // Outputs due between the previous filtered sample (0) and this one (1).
      while (this.offset <= 1) {
        this.emit(this.previous + (current - this.previous) * this.offset);
        this.offset += this.step;
      }
      this.offset -= 1;
      this.previous = current;
    }
    return true;
  }
}

registerProcessor("pcm-16k", PcmProcessor);
