// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'coverage/', 'data/', 'node_modules/', '.tmp/', '**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: ['rxjs/internal/*'] }],
    },
  },
  {
    files: ['src/streams/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['rxjs/internal/*'], message: 'Use public RxJS operators only.' },
            { group: ['hono', 'hono/*', '@hono/*'], message: 'src/streams knows no HTTP framework.' },
            {
              // The core owns its ports (provider-port.ts, job-store.ts); the other rooms import it, never the reverse.
              group: ['providers', 'simulators', 'server', 'client', 'cli', 'dashboard'].flatMap((room) => [`../${room}`, `../${room}/*`, `../**/${room}/**`]),
              message: 'src/streams imports nothing from the other rooms (providers, simulators, server, client, cli, dashboard): see docs/architecture.md.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'examples/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
