// Runs on the audio thread of an AudioContext at 16 kHz (the browser resamples the
// microphone): posts 100 ms of 16-bit little-endian PCM at a time, and the block's RMS level.
class Pcm16Capture extends AudioWorkletProcessor {
  constructor() {
    super();
    this.size = Math.round(sampleRate / 10);
    this.frame = new Int16Array(this.size);
    this.filled = 0;
    this.energy = 0;
  }

  process(inputs) {
    const channel = inputs[0]?.[0];
    if (!channel) return true;
    for (let index = 0; index < channel.length; index++) {
      const sample = Math.max(-1, Math.min(1, channel[index]));
      this.energy += sample * sample;
      this.frame[this.filled++] = sample < 0 ? sample * 0x8000 : sample * 0x7fff;
      if (this.filled === this.size) {
        const level = Math.sqrt(this.energy / this.filled);
        const pcm = this.frame.buffer;
        this.port.postMessage({ pcm, level }, [pcm]);
        // The old buffer went to the main thread (transferred, now detached).
        this.frame = new Int16Array(this.size);
        this.filled = 0;
        this.energy = 0;
      }
    }
    return true;
  }
}

registerProcessor("pcm16-capture", Pcm16Capture);
