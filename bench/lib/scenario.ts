import type { LoadResult } from './load.js';

export interface Target {
  what: string;
  target: string;
  actual: string;
  met: boolean;
}

export interface ScenarioResult {
  scenario: string;
  database: 'sqlite' | 'postgres';
  /** Users, devices: the data the scenario ran against. */
  dataSize: string;
  baseline: LoadResult;
  measured: Record<string, number | string>;
  /** Scenario throughput / health-check throughput, both measured in this run. */
  ratio?: number;
  targets: Target[];
}

export interface ScenarioContext {
  database: 'sqlite' | 'postgres';
  /** A PostgreSQL server URL (a database per scenario is created on it), or undefined for SQLite. */
  pgBase: string | undefined;
  /** Smaller data sizes for a quick run (`npm run bench -- --quick`). */
  quick: boolean;
}

export interface Scenario {
  name: string;
  run(ctx: ScenarioContext): Promise<ScenarioResult[]>;
}

export const ratioOf = (scenarioRps: number, baseline: LoadResult) => Math.round((scenarioRps / Math.max(1, baseline.rps)) * 1000) / 1000;
