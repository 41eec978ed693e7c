import { spawn } from 'node:child_process';
import https from 'node:https';
import { createRequire } from 'node:module';
import { Client as UniversalClient } from '@duosecurity/duo_universal';

/**
 * Duo's OFFICIAL client libraries, unmodified, pointed at a Tessera over HTTPS with a private CA:
 *
 *   python duo_client (Debian's python3-duo-client, 4.5), run by /usr/bin/python3 explicitly (a
 *     python3 earlier on PATH may not see Debian's packages). It takes `port=` and `ca_certs=`.
 *   @duosecurity/duo_api (node) 1.5: pins Duo's CAs in every request and always connects to port
 *     443 through https.globalAgent. An agent's own options override a request's, so the test
 *     swaps in an agent with our CA and our port as its default for the duration of the call.
 *   @duosecurity/duo_universal 3.x: pins Duo's CAs in the httpsAgent of its axios instance; the
 *     test replaces that agent (a private member) on its own client only.
 */

/** Where the clients go: a Tessera serving TLS on `port` with a certificate of `caPem`. */
export interface DuoTarget {
  host: string;
  port: number;
  caFile: string;
  caPem: string;
}

export interface DuoKeys {
  ikey: string;
  skey: string;
}

// --- python duo_client -------------------------------------------------------------------

export const PYTHON = '/usr/bin/python3';

/** One job for the python driver: a call through duo_client.Auth, or the client's own canonicalize/sign. */
export type PythonJob =
  | { kind: 'ping' | 'check'; client: PythonClientOptions }
  | { kind: 'call'; client: PythonClientOptions; method: string; path: string; params: Record<string, string | string[]> }
  | {
      kind: 'sign';
      method: string;
      host: string;
      path: string;
      /** Parameters as api_call takes them (normalised by the client's own normalize_params). */
      params: Record<string, string | string[]>;
      date: string;
      sig_version: 2 | 4;
      body?: string;
      digest: 'sha1' | 'sha512';
      ikey: string;
      skey: string;
    };

export interface PythonClientOptions extends DuoKeys {
  host: string;
  port: number;
  ca_certs: string;
  /** Left out: the client's default (HMAC-SHA1 in 4.5). */
  digest?: 'sha1' | 'sha512';
  /** Left out: the client's default (2 in 4.5). */
  sig_version?: 2 | 4;
}

export type PythonResult =
  | { ok: true; response: unknown }
  | { ok: true; canonical: string; authorization: string }
  | { ok: false; status: number | null; message: string; data: string | null };

const PYTHON_DRIVER = String.raw`
import hashlib, json, sys
import duo_client
from duo_client.client import normalize_params, sign, canonicalize

def client(o):
    kwargs = {'ca_certs': o['ca_certs'], 'port': o['port']}
    if 'digest' in o: kwargs['digestmod'] = getattr(hashlib, o['digest'])
    if 'sig_version' in o: kwargs['sig_version'] = o['sig_version']
    return duo_client.Auth(o['ikey'], o['skey'], o['host'], **kwargs)

out = []
for job in json.load(sys.stdin):
    kind = job['kind']
    try:
        if kind == 'sign':
            params = normalize_params(job['params'])
            args = (job['method'], job['host'], job['path'], params, job['date'], job['sig_version'])
            canonical = canonicalize(*args, body=job.get('body'))
            auth = sign(job['ikey'], job['skey'], job['method'], job['host'], job['path'], job['date'],
                        job['sig_version'], params, body=job.get('body'), digestmod=getattr(hashlib, job['digest']))
            out.append({'ok': True, 'canonical': canonical, 'authorization': auth})
        elif kind == 'ping':
            out.append({'ok': True, 'response': client(job['client']).ping()})
        elif kind == 'check':
            out.append({'ok': True, 'response': client(job['client']).check()})
        else:
            out.append({'ok': True, 'response': client(job['client']).json_api_call(job['method'], job['path'], job['params'])})
    except RuntimeError as e:
        data = getattr(e, 'data', None)
        out.append({'ok': False, 'status': getattr(e, 'status', None), 'message': str(e),
                    'data': data.decode('utf-8') if isinstance(data, bytes) else data})
json.dump(out, sys.stdout)
`;

/**
 * Runs a python program with `input` as JSON on its stdin and returns the JSON it prints.
 * Asynchronous, so a server in this same process keeps answering while python waits for it.
 */
export function runPython<T>(program: string, input: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', program], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`${PYTHON} exited ${code}:\n${stderr}`));
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(new Error(`${PYTHON} printed no JSON:\n${stdout}\n${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** Runs jobs through the python client, all in one /usr/bin/python3 process. */
export const runPythonDuo = (jobs: PythonJob[]) => runPython<PythonResult[]>(PYTHON_DRIVER, jobs);

export async function runPythonJob(job: PythonJob): Promise<PythonResult> {
  return (await runPythonDuo([job]))[0]!;
}

// --- @duosecurity/duo_api (node) -----------------------------------------------------------

interface DuoApiClient {
  apiCall(method: string, path: string, params: Record<string, string | string[]>, callback: (body: string) => void): void;
}
interface DuoApiModule {
  Client: new (ikey: string, skey: string, host: string, sigVersion?: number) => DuoApiClient;
  SIGNATURE_VERSION_2: number;
  SIGNATURE_VERSION_5: number;
}
/** The package is CommonJS without types. */
export const duoApi = createRequire(import.meta.url)('@duosecurity/duo_api') as DuoApiModule;
/** Its signing functions, for vectors computed by the client's own code. */
export const duoApiSig = createRequire(import.meta.url)('@duosecurity/duo_api/lib/duo_sig') as {
  sign(ikey: string, skey: string, method: string, host: string, path: string, params: Record<string, string | string[]>, date: string): string;
  signV5(ikey: string, skey: string, method: string, host: string, path: string, params: Record<string, string | string[]>, date: string, body: string): string;
};

/**
 * One call through the node client (`apiCall`, then the JSON parsed here, so a non-JSON answer
 * is a test failure rather than an exception in the client's callback). While it runs,
 * https.globalAgent trusts our CA and defaults to our port; calls are therefore made one at a time.
 */
export async function nodeDuoCall(
  target: DuoTarget,
  keys: DuoKeys & { sigVersion?: 2 | 5 },
  method: string,
  path: string,
  params: Record<string, string | string[]> = {},
): Promise<{ stat: string; response?: unknown; code?: number; message?: string; message_detail?: string }> {
  const client = new duoApi.Client(keys.ikey, keys.skey, target.host, keys.sigVersion === 5 ? duoApi.SIGNATURE_VERSION_5 : duoApi.SIGNATURE_VERSION_2);
  const agent = new https.Agent({ ca: target.caPem });
  // Node's ClientRequest takes the port from the agent when the request names none (443 by default).
  (agent as https.Agent & { defaultPort: number }).defaultPort = target.port;
  const saved = https.globalAgent;
  https.globalAgent = agent;
  try {
    const body = await new Promise<string>((resolve) => client.apiCall(method, path, params, resolve));
    try {
      return JSON.parse(body);
    } catch {
      throw new Error(`the node client got a non-JSON answer: ${body}`);
    }
  } finally {
    https.globalAgent = saved;
    agent.destroy();
  }
}

/**
 * One Auth API call as @duosecurity/duo_api makes it (v2 HMAC-SHA512, signed by the client's own
 * duo_sig), with fetch, to a Tessera at `baseUrl` over plain http (the Duo door signs the host,
 * not the scheme: the browser rigs serve http), dated by `now` (the harness's clock). Asserts
 * `stat: OK` and returns the response.
 */
export async function signedDuoFetch(baseUrl: string, now: number, keys: DuoKeys, method: 'GET' | 'POST', path: string, params: Record<string, string>): Promise<any> {
  const date = new Date(now).toUTCString();
  const authorization = duoApiSig.sign(keys.ikey, keys.skey, method, new URL(baseUrl).hostname, path, params, date);
  const query = new URLSearchParams(params).toString();
  const res = await fetch(`${baseUrl}${path}${method === 'GET' ? `?${query}` : ''}`, {
    method,
    headers: { date, authorization, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    ...(method === 'POST' ? { body: query } : {}),
  });
  const body = (await res.json()) as { stat: string; response: unknown };
  if (body.stat !== 'OK') throw new Error(`${method} ${path}: ${JSON.stringify(body)}`);
  return body.response;
}

// --- @duosecurity/duo_universal ------------------------------------------------------------

/** A Universal Prompt client for Tessera at `target`, trusting our CA instead of Duo's pinned ones. */
export function universalClient(target: DuoTarget, options: { clientId: string; clientSecret: string; redirectUrl: string; useDuoCodeAttribute?: boolean }): UniversalClient {
  const client = new UniversalClient({ ...options, apiHost: `${target.host}:${target.port}` });
  (client as unknown as { axios: { defaults: { httpsAgent: https.Agent } } }).axios.defaults.httpsAgent = new https.Agent({ ca: target.caPem });
  return client;
}
