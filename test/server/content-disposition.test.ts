import { describe, expect, it } from 'vitest';
import { attachmentDisposition } from '../../src/server/content-disposition.js';

describe('attachmentDisposition', () => {
  it.each([
    ['a plain name', 'score.musicxml', `attachment; filename="score.musicxml"; filename*=UTF-8''score.musicxml`],
    ['non-ASCII', 'Grüße.mid', `attachment; filename="Gr__e.mid"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.mid`],
    ['quotes and a backslash', 'a"b\\c.txt', `attachment; filename="a_b_c.txt"; filename*=UTF-8''a%22b_c.txt`],
    ['path separators', '../../etc/passwd', `attachment; filename="_.._etc_passwd"; filename*=UTF-8''_.._etc_passwd`],
    ['CR LF (header injection)', 'a\r\nSet-Cookie: x=1', `attachment; filename="a__Set-Cookie: x=1"; filename*=UTF-8''a__Set-Cookie%3A%20x%3D1`],
    ['other control characters', 'a\u0000b\u0007c\u007f\u0085.txt', `attachment; filename="a_b_c__.txt"; filename*=UTF-8''a_b_c__.txt`],
    ['percent and RFC 5987 non-attr-chars', "50% (take 'one')*.wav", `attachment; filename="50_ (take 'one')*.wav"; filename*=UTF-8''50%25%20%28take%20%27one%27%29%2A.wav`],
    ['nothing left but dots', '...', `attachment; filename="download"; filename*=UTF-8''download`],
    ['an empty name', '', `attachment; filename="download"; filename*=UTF-8''download`],
  ])('writes %s safely', (_what, name, expected) => {
    expect(attachmentDisposition(name)).toBe(expected);
  });
});
