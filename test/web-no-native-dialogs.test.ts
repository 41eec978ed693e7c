import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Issue 16.3: the web apps ask in their own dialog (components/Dialog.tsx: named, keyboard
 * accessible, testable by role), never with the browser's confirm(), alert() or prompt(), which
 * some browsers silence and which cannot be styled. The browser tests also count native dialogs.
 */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(tsx?|js)$/.test(e.name) && !e.name.endsWith('.generated.ts') ? [path] : [];
  });
}

describe('the web apps', () => {
  it('never call window.confirm, alert or prompt', () => {
    const found: string[] = [];
    for (const file of [...sources('web/src'), ...sources('web/public')]) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // window.confirm(...), and the bare global in a condition (`if (!confirm(...))`); the
          // app's own `await confirm({...})` (useConfirm) is a local function and passes.
          if (/\b(window|globalThis|self)\.(confirm|alert|prompt)\s*\(|!\s*(confirm|alert|prompt)\s*\(/.test(line)) {
            found.push(`${file}:${i + 1}: ${line.trim()}`);
          }
        });
    }
    expect(found).toEqual([]);
  });
});
