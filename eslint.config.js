// ESLint (flat config) with typescript-eslint's recommended rules: `npm run lint` in CI.
// Formatting is Prettier's job (.prettierrc.json); layers and cycles are dependency-cruiser's.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'spool/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // `_name` marks a value taken apart on purpose (rest destructuring drops a field).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      // Control characters in patterns are how user text is cleaned of terminal escapes.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // The CLI is bundled (scripts/bundle.mjs): the named `z` makes esbuild keep all of zod (every
      // locale, JSON Schema), 580 kB that each `dopq` call would load; the namespace import, 110 kB.
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'][importKind!='type'] > ImportSpecifier[imported.name='z']",
          message: "use `import * as z from 'zod'`",
        },
      ],
    },
  },
);
