import { CAMBAI_LANGUAGES } from '../../providers/cambai/cambai-languages.js';
import type { CambaiSourceLanguage } from './cambai-schemas.js';

const NAMES = new Intl.DisplayNames(['en'], { type: 'language', languageDisplay: 'standard' });

/** An English name for a locale ("English (United States)"); the locale itself when ICU has none. */
function nameOf(locale: string): string {
  try {
    return NAMES.of(locale) ?? locale;
  } catch {
    return locale;
  }
}

/**
 * `GET /source-languages`: every language of the shared list in `providers/cambai/cambai-languages.ts`
 * (the official SDK's `Languages` enum), so that the simulator accepts exactly what the API
 * documents. `short_name` is the SDK's locale; `language` is ICU's English name for it (the real
 * names were not retrieved).
 *
 * @example
 * cambaiSourceLanguages.find((l) => l.id === 35)?.short_name; // 'en-gb'
 */
export const cambaiSourceLanguages: readonly CambaiSourceLanguage[] = CAMBAI_LANGUAGES.map(([id, locale]) => ({
  id,
  language: nameOf(locale),
  short_name: locale,
}));
