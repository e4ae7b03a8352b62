// Lint rules that catch real bugs: floating and misused promises, awaits lost in try/catch.
import tseslint from 'typescript-eslint';
import pluginSecurity from 'eslint-plugin-security';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/coverage/**', '.cache/**', '.data/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: [
                'describe',
                'it',
                'test',
                'suite',
                'before',
                'after',
                'beforeEach',
                'afterEach',
              ],
            },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  // Security smells (docs/security.md). High-signal rules are errors; the rest warn for triage;
  // object-injection is off: with typed keys it flags nearly every indexed read.
  pluginSecurity.configs.recommended,
  {
    rules: {
      'security/detect-object-injection': 'off',
      'security/detect-eval-with-expression': 'error',
      'security/detect-new-buffer': 'error',
      'security/detect-buffer-noassert': 'error',
      'security/detect-pseudoRandomBytes': 'error',
      'security/detect-non-literal-require': 'error',
      'security/detect-bidi-characters': 'error',
      'security/detect-invisible-characters': 'error',
      'security/detect-no-csrf-before-method-override': 'error',
      'security/detect-disable-mustache-escape': 'error',
    },
  },
  // Tests and tooling build file paths and patterns from their own fixtures and temp folders:
  // these two rules only add noise there (services' src keeps them as warnings for triage).
  {
    files: ['**/test/**', 'tests/**', 'scripts/**', 'charts/test/**', 'bench/**'],
    rules: {
      'security/detect-non-literal-fs-filename': 'off',
      'security/detect-non-literal-regexp': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
