/** The version string every Guitar Pro 5.00 file starts with. */
export const GP5_VERSION = 'FICHIER GUITAR PRO v5.00';

/** Guitar Pro "int-byte-size string": int32 LE (length + 1), one length byte, then the characters. */
function intByteSizeString(text: string): Buffer {
  const chars = Buffer.from(text.slice(0, 255), 'latin1');
  const head = Buffer.alloc(5);
  head.writeInt32LE(chars.length + 1, 0);
  head.writeUInt8(chars.length, 4);
  return Buffer.concat([head, chars]);
}

/**
 * A small stand-in for a Guitar Pro 5 file: the real 31-byte version block (length byte plus
 * `FICHIER GUITAR PRO v5.00` padded to 30 bytes) followed by the GP5 song-information block
 * (title, subtitle, artist, album, words, music, copyright, tab author, instructions, notice
 * lines) in Guitar Pro's string encoding.
 *
 * Limits: nothing after the song information is written (no lyrics, page setup, tempo, MIDI
 * channels, measures or tracks), so a full GP5 reader (TuxGuitar, alphaTab, PyGuitarPro) will
 * identify the version and read the song details, then fail at the end of the data. It is
 * meant for "fetch returns a GP5-looking binary" checks, not for opening in Guitar Pro.
 *
 * @example
 * const gp5 = gp5File({ title: 'Demo', artist: 'Someone' });
 * gp5.subarray(1, 25).toString('latin1'); // 'FICHIER GUITAR PRO v5.00'
 */
export function gp5File(info: { title: string; artist?: string; notice?: string[] }): Buffer {
  const version = Buffer.alloc(31);
  version.writeUInt8(GP5_VERSION.length, 0);
  version.write(GP5_VERSION, 1, 'latin1');
  const fields = [info.title, '', info.artist ?? '', '', '', info.artist ?? '', '', 'jobstream Klangio simulator', ''];
  const notice = info.notice ?? [];
  const count = Buffer.alloc(4);
  count.writeInt32LE(notice.length, 0);
  return Buffer.concat([version, ...fields.map(intByteSizeString), count, ...notice.map(intByteSizeString)]);
}
