#!/usr/bin/env node
// `npm start` and `npm run demo`: build only when the sources differ from what dist/ was built from.
// The stamp (dist/.build-stamp) holds a SHA-256 over the path and bytes of every build input, so
// a `git pull`, a checkout or an edit that changes any input rebuilds, and one that changes
// nothing (even if it touches mtimes) does not. Usage: node scripts/build-if-stale.mjs
// [--root DIR] [--build "command"] (the options are for the tests).
import { createHash } from 'node:crypto';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the build reads: the server's and the web app's sources and the build's own configuration. */
const INPUTS = ['src', 'web', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'vite.config.ts'];
const SKIP = new Set(['node_modules', 'dist', '.DS_Store']);

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = path.resolve(option('--root', path.join(path.dirname(fileURLToPath(import.meta.url)), '..')));
const build = option('--build', 'npm run build');
const stampFile = path.join(root, 'dist', '.build-stamp');

function walk(rel, files) {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return;
  if (fs.statSync(abs).isDirectory()) {
    for (const name of fs.readdirSync(abs).sort()) if (!SKIP.has(name)) walk(path.join(rel, name), files);
  } else files.push(rel);
}

function inputsHash() {
  const files = [];
  for (const input of INPUTS) walk(input, files);
  const hash = createHash('sha256');
  for (const rel of files) {
    hash.update(rel.split(path.sep).join('/') + '\0');
    hash.update(fs.readFileSync(path.join(root, rel)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

const wanted = inputsHash();
const built = fs.existsSync(stampFile) ? fs.readFileSync(stampFile, 'utf8').trim() : null;
if (built === wanted) {
  console.log('Build is up to date (dist/ matches the sources); not rebuilding.');
} else {
  console.log(built ? 'Sources changed since the last build; building.' : 'No build yet; building.');
  execSync(build, { cwd: root, stdio: 'inherit' });
  fs.mkdirSync(path.dirname(stampFile), { recursive: true });
  // Written after the build succeeded (a failed one leaves the old stamp, so the next start tries again),
  // with the hash taken before it: a source edited during the build is built next time.
  fs.writeFileSync(stampFile, wanted + '\n');
}
