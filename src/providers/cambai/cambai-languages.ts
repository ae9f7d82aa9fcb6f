import { z } from 'zod';

/**
 * Camb.ai's source languages, shared by the adapter (request validation) and the simulator
 * (`POST /transcribe` validation, `GET /source-languages`). Ids and locales are the official
 * SDK's `Languages` enum (Camb-ai/cambai-typescript-sdk `typescript/api/types/Languages.ts`,
 * e.g. `EN_GB = 35`, `AR_AE = 4`; 137 and 138 are not assigned). The newer SDK also sends
 * `"auto"` (detect the language) and locale strings such as `"en-us"` in the same `language`
 * form field (its `tests/transcription-options.test.mjs`), so all three spellings are accepted.
 */
export const CAMBAI_LANGUAGES: readonly (readonly [id: number, locale: string])[] = [
  [1, 'en-us'], [2, 'af-za'], [3, 'am-et'], [4, 'ar-ae'], [5, 'ar-bh'], [6, 'ar-dz'], [7, 'ar-eg'], [8, 'ar-iq'],
  [9, 'ar-jo'], [10, 'ar-kw'], [11, 'ar-lb'], [12, 'ar-ly'], [13, 'ar-ma'], [14, 'ar-om'], [15, 'ar-qa'], [16, 'ar-sa'],
  [17, 'ar-sy'], [18, 'ar-tn'], [19, 'ar-ye'], [20, 'az-az'], [21, 'bg-bg'], [22, 'bn-bd'], [23, 'bn-in'], [24, 'bs-ba'],
  [25, 'ca-es'], [26, 'cs-cz'], [27, 'cy-gb'], [28, 'da-dk'], [29, 'de-at'], [30, 'de-ch'], [31, 'de-de'], [32, 'el-gr'],
  [33, 'en-au'], [34, 'en-ca'], [35, 'en-gb'], [36, 'en-hk'], [37, 'en-ie'], [38, 'en-in'], [39, 'en-ke'], [40, 'en-ng'],
  [41, 'en-nz'], [42, 'en-ph'], [43, 'en-sg'], [44, 'en-tz'], [45, 'en-za'], [46, 'es-ar'], [47, 'es-bo'], [48, 'es-cl'],
  [49, 'es-co'], [50, 'es-cr'], [51, 'es-cu'], [52, 'es-do'], [53, 'es-ec'], [54, 'es-es'], [55, 'es-gq'], [56, 'es-gt'],
  [57, 'es-hn'], [58, 'es-mx'], [59, 'es-ni'], [60, 'es-pa'], [61, 'es-pe'], [62, 'es-pr'], [63, 'es-py'], [64, 'es-sv'],
  [65, 'es-us'], [66, 'es-uy'], [67, 'es-ve'], [68, 'et-ee'], [69, 'eu-es'], [70, 'fa-ir'], [71, 'fi-fi'], [72, 'fil-ph'],
  [73, 'fr-be'], [74, 'fr-ca'], [75, 'fr-ch'], [76, 'fr-fr'], [77, 'ga-ie'], [78, 'gl-es'], [79, 'gu-in'], [80, 'he-il'],
  [81, 'hi-in'], [82, 'hr-hr'], [83, 'hu-hu'], [84, 'hy-am'], [85, 'id-id'], [86, 'is-is'], [87, 'it-it'], [88, 'ja-jp'],
  [89, 'jv-id'], [90, 'ka-ge'], [91, 'kk-kz'], [92, 'km-kh'], [93, 'kn-in'], [94, 'ko-kr'], [95, 'lo-la'], [96, 'lt-lt'],
  [97, 'lv-lv'], [98, 'mk-mk'], [99, 'ml-in'], [100, 'mn-mn'], [101, 'mr-in'], [102, 'ms-my'], [103, 'mt-mt'], [104, 'my-mm'],
  [105, 'nb-no'], [106, 'ne-np'], [107, 'nl-be'], [108, 'nl-nl'], [109, 'pl-pl'], [110, 'ps-af'], [111, 'pt-br'], [112, 'pt-pt'],
  [113, 'ro-ro'], [114, 'ru-ru'], [115, 'si-lk'], [116, 'sk-sk'], [117, 'sl-si'], [118, 'so-so'], [119, 'sq-al'], [120, 'sr-rs'],
  [121, 'su-id'], [122, 'sv-se'], [123, 'sw-ke'], [124, 'sw-tz'], [125, 'ta-in'], [126, 'ta-lk'], [127, 'ta-my'], [128, 'ta-sg'],
  [129, 'te-in'], [130, 'th-th'], [131, 'tr-tr'], [132, 'uk-ua'], [133, 'ur-in'], [134, 'ur-pk'], [135, 'uz-uz'], [136, 'vi-vn'],
  [139, 'zh-cn'], [140, 'zh-cn-henan'], [141, 'zh-cn-liaoning'], [142, 'zh-cn-shaanxi'], [143, 'zh-cn-shandong'], [144, 'zh-cn-sichuan'], [145, 'zh-hk'], [146, 'zh-tw'],
  [147, 'zu-za'], [148, 'pa-in'], [149, 'sa-in'], [150, 'ar-xa'], [151, 'tl-ph'],
];

/** The `language` value that asks Camb.ai to detect the spoken language. */
export const CAMBAI_AUTO_LANGUAGE = 'auto';

const BY_ID = new Map<number, string>(CAMBAI_LANGUAGES.map(([id, locale]) => [id, locale]));
const BY_LOCALE = new Map<string, number>(CAMBAI_LANGUAGES.map(([id, locale]) => [locale, id]));

/**
 * The language id of a locale string (any case, `-` or `_`), or `undefined` when Camb.ai has none.
 *
 * @example
 * cambaiLanguageIdOf('en_GB'); // 35
 */
export function cambaiLanguageIdOf(locale: string): number | undefined {
  return BY_LOCALE.get(locale.trim().toLowerCase().replaceAll('_', '-'));
}

/**
 * Whether Camb.ai knows a language id.
 *
 * @example
 * isCambaiLanguageId(35); // true
 * isCambaiLanguageId(137); // false
 */
export function isCambaiLanguageId(id: number): boolean {
  return BY_ID.has(id);
}

/**
 * A `language` value as the API takes it: a known integer id, `"auto"`, or a known locale
 * string (normalised to lower case with `-`). What goes on the wire is `String(value)`.
 *
 * @example
 * CambaiLanguage.parse('EN-GB'); // 'en-gb'
 * CambaiLanguage.safeParse(9999).success; // false
 */
export const CambaiLanguage = z.union([
  z.int().refine(isCambaiLanguageId, { error: (issue) => `${String(issue.input)} is not a Camb.ai language id (1 to 151, e.g. 1 for en-us)` }),
  z
    .string()
    .transform((value) => value.trim().toLowerCase().replaceAll('_', '-'))
    .refine((value) => value === CAMBAI_AUTO_LANGUAGE || BY_LOCALE.has(value), {
      error: (issue) => `${JSON.stringify(issue.input)} is neither "auto" nor a Camb.ai locale (e.g. "en-us")`,
    }),
], {
  error: (issue) =>
    issue.input === undefined
      ? 'is required: a Camb.ai language id (e.g. 1 for en-us), a locale such as "en-us", or "auto"'
      : 'must be an integer Camb.ai language id (e.g. 1 for en-us), a locale such as "en-us", or "auto"',
});
export type CambaiLanguage = z.infer<typeof CambaiLanguage>;

/** `transcription_mode`: `fast` (the API's default) or `slow`, a more thorough pass. */
export const CambaiTranscriptionMode = z.enum(['fast', 'slow']);
export type CambaiTranscriptionMode = z.infer<typeof CambaiTranscriptionMode>;
