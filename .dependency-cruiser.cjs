// The layers dopq is built in, enforced: cli -> daemon -> io -> core, never back, and no
// cycles anywhere. core/ is pure: no I/O modules, no Docker, no watcher, no locks.
// `npm run check:layers` (part of `npm run lint`, which CI runs).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle ties files that should be apart; move the shared part into its own file.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-is-pure',
      severity: 'error',
      comment: 'core/ takes plain data and the clock as parameters: effects live in io/, daemon/ and cli/.',
      from: { path: '^src/core/' },
      to: { path: ['^src/(io|daemon|cli)/', '^(node:)?(fs|fs/promises|child_process|net|http|https|dgram|os)$', '(^|/)node_modules/(dockerode|chokidar|proper-lockfile)/'] },
    },
    {
      name: 'io-below-daemon',
      severity: 'error',
      comment: 'io/ is the edge (files, Docker, host): it never reaches up into the daemon or the CLI.',
      from: { path: '^src/io/' },
      to: { path: '^src/(daemon|cli)/' },
    },
    {
      name: 'daemon-below-cli',
      severity: 'error',
      comment: 'The daemon never imports the CLI that starts it.',
      from: { path: '^src/daemon/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'commands-never-import-the-program',
      severity: 'error',
      comment: 'program.ts loads the commands; a command that imports it makes a cycle of the whole CLI.',
      from: { path: '^src/cli/commands/' },
      to: { path: '^src/cli/program\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
