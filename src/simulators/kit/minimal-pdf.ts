/** Escapes text for a PDF literal string; non-Latin-1 characters become `?`. */
function pdfString(text: string): string {
  const latin1 = [...text].map((ch) => ((ch.codePointAt(0) ?? 63) > 0xff ? '?' : ch)).join('');
  return latin1.replace(/[\\()]/g, (m) => `\\${m}`).replace(/[\r\n]/g, ' ');
}

/**
 * A valid one-page PDF 1.4 (A4) printing `lines` in Helvetica, with a correct
 * cross-reference table (byte offsets of every object) and trailer.
 *
 * @example
 * const pdf = minimalPdf(['Title', 'Composer']);
 * pdf.subarray(0, 5).toString('latin1'); // '%PDF-'
 */
export function minimalPdf(lines: readonly string[]): Buffer {
  const content = [
    'BT',
    '/F1 14 Tf',
    '18 TL',
    '56 780 Td',
    ...lines.map((line, i) => (i === 0 ? `(${pdfString(line)}) Tj` : `T* (${pdfString(line)}) Tj`)),
    'ET',
  ].join('\n');
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
  ];
  let out = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n';
  const offsets: number[] = [];
  for (const [i, body] of objects.entries()) {
    offsets.push(Buffer.byteLength(out, 'latin1'));
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  }
  const xrefAt = Buffer.byteLength(out, 'latin1');
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) out += `${String(offset).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefAt}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}
