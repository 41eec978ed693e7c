import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { projectRoot } from '../src/http/paths.js';
import type { Scenario, ScenarioContext, ScenarioResult } from './lib/scenario.js';
import { adminList } from './scenarios/admin-list.js';
import { duo } from './scenarios/duo.js';
import { universal } from './scenarios/universal.js';
import { held } from './scenarios/held.js';
import { oidcSignIn } from './scenarios/oidc-sign-in.js';
import { passcode } from './scenarios/passcode.js';
import { passwordStep } from './scenarios/password-step.js';
import { push } from './scenarios/push.js';
import { securityKey } from './scenarios/security-key.js';

/** Every scenario, in the order of issue 7, then issue 14's OpenID Connect sign-in and issue 15's Duo Auth API. */
const SCENARIOS: Scenario[] = [passcode, push, held, securityKey, passwordStep, adminList, oidcSignIn, duo, universal];

/**
 * `npm run bench [-- --quick] [-- --only <name part>[,<name part>...]]`: each scenario on SQLite, and on
 * PostgreSQL too when TESSERA_DATABASE_URL is a postgres:// URL (a fresh database per
 * scenario is created on that server). Writes bench/results/<date>.json and .md.
 */
async function main(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  // --only <name part>[,<name part>...]
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1]?.toLowerCase().split(',') : undefined;
  const pgUrl = process.env.TESSERA_DATABASE_URL;
  const databases: ScenarioContext[] = [{ database: 'sqlite', pgBase: undefined, quick }];
  if (pgUrl && /^postgres(ql)?:\/\//.test(pgUrl)) databases.push({ database: 'postgres', pgBase: pgUrl, quick });

  const results: ScenarioResult[] = [];
  for (const scenario of SCENARIOS.filter((s) => !only || only.some((o) => s.name.toLowerCase().includes(o)))) {
    for (const ctx of databases) {
      process.stdout.write(`\n# ${scenario.name} on ${ctx.database}\n`);
      const rs = await scenario.run(ctx);
      for (const r of rs) {
        results.push(r);
        console.log(JSON.stringify(r));
      }
    }
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = path.join(projectRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? '', memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, quick };
  fs.writeFileSync(path.join(dir, `${stamp}.json`), JSON.stringify({ machine, results }, null, 2) + '\n');
  const md = markdown(machine, results);
  fs.writeFileSync(path.join(dir, `${stamp}.md`), md);
  console.log('\n' + md);
  const missed = results.flatMap((r) => r.targets.filter((t) => !t.met).map((t) => `${r.scenario} (${r.database}): ${t.what} ${t.actual}, target ${t.target}`));
  if (missed.length) console.log(`Targets missed:\n- ${missed.join('\n- ')}`);
}

function markdown(machine: Record<string, unknown>, results: ScenarioResult[]): string {
  const rows = results.map((r) => {
    const measured = Object.entries(r.measured)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const targets = r.targets.map((t) => `${t.met ? '✅' : '❌'} ${t.what} ${t.actual} (${t.target})`).join('<br>');
    return `| ${r.scenario} | ${r.database} | ${r.dataSize} | ${measured} | ${r.baseline.rps} | ${r.ratio ?? '—'} | ${targets} |`;
  });
  return [
    `Machine: ${machine.cpus} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}${machine.quick ? ', quick run' : ''}.`,
    '',
    '| Scenario | DB | Data | Measured | Health rps (same run) | Ratio | Targets |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

main(process.argv.slice(2)).catch((err) => {
  console.error(err);
  process.exit(1);
});
