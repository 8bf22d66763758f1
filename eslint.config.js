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
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      // Control characters in patterns are how user text is cleaned of terminal escapes.
      'no-control-regex': 'off',
    },
  },
);
