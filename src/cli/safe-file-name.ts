/**
 * A result file name from the server made into a plain file name that stays in the directory
 * it is written to, on any system: no path (each `/` or `\` becomes `_`), no leading dot (so no
 * `.`, `..` or hidden file), no control or bidirectional characters, none of the characters
 * Windows refuses (`<>:"|?*`) and none of its device names (`NUL`, `CON`), no trailing dot or space, at most 200 characters (the extension
 * kept), and never empty.
 *
 * @example safeFileName('../../etc/passwd') // '__.._etc_passwd'
 * @example safeFileName('vocals.wav') // 'vocals.wav'
 */
export function safeFileName(name: string): string {
  let cleaned = name
    .normalize('NFC')
    .replace(/[/\\<>:"|?*]/g, '_')
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '_')
    .replace(/^\.+/, '_')
    .replace(/[. ]+$/, '')
    .trim();
  if (cleaned.length > 200) {
    const dot = cleaned.lastIndexOf('.');
    const extension = dot > 0 && cleaned.length - dot <= 16 ? cleaned.slice(dot) : '';
    cleaned = [...cleaned.slice(0, cleaned.length - extension.length)].slice(0, 200 - extension.length).join('') + extension;
  }
  if (/^(con|prn|aux|nul|com\d|lpt\d)(\.|$)/i.test(cleaned)) cleaned = `_${cleaned}`;
  return cleaned === '' ? '_' : cleaned;
}

/**
 * {@link safeFileName} for each name, made unique within the list: a second `a.wav` (or a
 * name that becomes `a.wav`) is `a-2.wav`. Case is ignored when comparing, as on macOS and
 * Windows.
 *
 * @example uniqueFileNames(['a/b', 'a\\b']) // ['a_b', 'a_b-2']
 */
export function uniqueFileNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const safe = safeFileName(name);
    const dot = safe.lastIndexOf('.');
    const [stem, extension] = dot > 0 ? [safe.slice(0, dot), safe.slice(dot)] : [safe, ''];
    let candidate = safe;
    for (let n = 2; taken.has(candidate.toLowerCase()); n += 1) candidate = `${stem}-${n}${extension}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}
