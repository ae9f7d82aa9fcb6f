/**
 * A silent MP3 file: `frames` MPEG-1 Layer III frames (128 kbit/s, 44.1 kHz, joint stereo,
 * no CRC, 417 bytes each) whose side information and main data are all zero, which every
 * decoder plays as digital silence (1152 samples per frame, about 26 ms). The simulator cannot
 * encode MP3, so an MP3 stem it serves is a real MP3 file of silence, not the tone its WAV
 * counterpart holds.
 *
 * @example silentMp3(20) // about half a second of silence
 */
export function silentMp3(frames: number): Buffer {
  const frameBytes = 417; // 144 * 128000 / 44100, no padding
  const file = Buffer.alloc(frames * frameBytes);
  for (let i = 0; i < frames; i += 1) file.set([0xff, 0xfb, 0x90, 0x64], i * frameBytes);
  return file;
}
