import type { CambaiSourceLanguage } from './cambai-schemas.js';

/**
 * The source languages the simulator accepts. The ids are the ones Camb.ai documents for
 * transcription (English 1, Spanish 54, French 76, German 31, Mandarin 139, Japanese 88,
 * Arabic 4); the `short_name` locale strings are the simulator's choice (the real list is
 * much longer and was not retrieved).
 *
 * @example
 * cambaiSourceLanguages.find((l) => l.id === 1)?.language; // 'English (United States)'
 */
export const cambaiSourceLanguages: readonly CambaiSourceLanguage[] = [
  { id: 1, language: 'English (United States)', short_name: 'en-us' },
  { id: 4, language: 'Arabic (Saudi Arabia)', short_name: 'ar-sa' },
  { id: 31, language: 'German (Germany)', short_name: 'de-de' },
  { id: 54, language: 'Spanish (Spain)', short_name: 'es-es' },
  { id: 76, language: 'French (France)', short_name: 'fr-fr' },
  { id: 88, language: 'Japanese (Japan)', short_name: 'ja-jp' },
  { id: 139, language: 'Chinese (Mandarin, Simplified)', short_name: 'zh-cn' },
];

/**
 * Whether the simulator knows a source language id.
 *
 * @example
 * isSourceLanguage(9999); // false
 */
export function isSourceLanguage(id: number): boolean {
  return cambaiSourceLanguages.some((l) => l.id === id);
}
