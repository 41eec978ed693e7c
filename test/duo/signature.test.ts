import fs from 'node:fs';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  authenticateSignedRequest,
  canonicalParams,
  canonicalText,
  DUO_CLOCK_SKEW_MS,
  matchSignature,
  parseAuthorization,
  parseRfc2822,
  type SignedRequest,
} from '../../src/duo/signature.js';
import { decodeFormPairs } from '../../src/duo/form-params.js';
import { duoApiSig, runPython, runPythonDuo, type PythonJob } from '../support/duo-clients.js';

/**
 * The signature module against the official clients' own canonicalisation: python duo_client
 * 4.5's canonicalize() and sign() (called through /usr/bin/python3 at test time),
 * @duosecurity/duo_api's sign() and signV5() (in process), and v5 vectors captured from
 * duo_client_python 5.6.1 (test/vectors/duo-signature-v5.json, which says how they were made).
 */

const IKEY = 'DIWJ8X6AEYOR5OMC6TQ1';
const SKEY = 'Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zFNQy4';

type Params = Record<string, string | string[]>;
const pairsOf = (params: Params) => Object.entries(params).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => [k, x] as [string, string]));

function signed(over: Partial<SignedRequest> & { date: string; authorization: string }): SignedRequest & { date: string } {
  return { method: 'GET', hosts: ['localhost'], path: '/auth/v2/check', params: [], body: { kind: 'none' }, duoHeaders: [], ...over };
}

function signatureOf(authorization: string) {
  const c = parseAuthorization(authorization);
  if (typeof c === 'string' || !c.signature) throw new Error(`not a usable Authorization: ${authorization}`);
  return c.signature;
}

describe('canonicalisation, as python duo_client 4.5 computes it', () => {
  const cases: { name: string; method: string; host: string; path: string; params: Params; sig_version: 2 | 4; body?: string; digest: 'sha1' | 'sha512' }[] = [
    { name: 'check, no parameters, SHA-1 (the client default)', method: 'GET', host: 'api-xxxxxxxx.duosecurity.com', path: '/auth/v2/check', params: {}, sig_version: 2, digest: 'sha1' },
    { name: 'a form POST, upper-case host, SHA-512', method: 'POST', host: 'Tessera.Example', path: '/auth/v2/preauth', params: { username: 'ana maria', ipaddr: '10.1.2.3' }, sig_version: 2, digest: 'sha512' },
    {
      name: 'reserved and non-ASCII characters, repeated names',
      method: 'GET',
      host: 'localhost',
      path: '/auth/v2/x',
      params: { 'na me': ['z', 'a', 'é'], 'b~': "!'()*", A: '/?#[]@$&+,;=%', 'ключ': 'значение 😀' },
      sig_version: 2,
      digest: 'sha1',
    },
    { name: 'a v4 JSON POST', method: 'POST', host: 'localhost', path: '/auth/v2/auth', params: {}, body: '{"device":"auto","factor":"push","username":"ana"}', sig_version: 4, digest: 'sha512' },
    { name: 'a v4 GET (body hash of nothing)', method: 'GET', host: 'localhost', path: '/auth/v2/auth_status', params: { txid: 'abc' }, body: '', sig_version: 4, digest: 'sha512' },
  ];
  const date = 'Tue, 21 Aug 2012 17:29:18 -0000';
  let results: Awaited<ReturnType<typeof runPythonDuo>>;

  beforeAll(async () => {
    results = await runPythonDuo(cases.map((c): PythonJob => ({ kind: 'sign', method: c.method, host: c.host, path: c.path, params: c.params, date, sig_version: c.sig_version, body: c.body, digest: c.digest, ikey: IKEY, skey: SKEY })));
  });

  it.each(cases.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
    const r = results[i]!;
    if (!('canonical' in r)) throw new Error(`python refused the case: ${JSON.stringify(r)}`);
    const params = canonicalParams(pairsOf(c.params))[0]!;
    const body = c.body === undefined ? undefined : Buffer.from(c.body, 'utf8');
    expect(canonicalText(c.sig_version, { date, method: c.method, host: c.host, path: c.path, params, body })).toBe(r.canonical);

    const request = signed({
      method: c.method,
      hosts: [c.host],
      path: c.path,
      params: c.body !== undefined && c.method === 'POST' ? [] : pairsOf(c.params),
      body: c.body !== undefined && c.method === 'POST' ? { kind: 'json', raw: body! } : c.method === 'POST' ? { kind: 'form' } : { kind: 'none' },
      date,
      authorization: r.authorization,
    });
    expect(matchSignature(request, signatureOf(r.authorization), [SKEY])).toEqual({ version: c.sig_version, keyIndex: 0 });
    expect(matchSignature(request, signatureOf(r.authorization), ['another secret key of forty characters.'])).toBeNull();
  });
});

describe('signatures of @duosecurity/duo_api', () => {
  const date = new Date(Date.UTC(2026, 0, 1, 8)).toUTCString();

  it('v2 (SHA-512) with repeated values in the order given, where python would sort them', () => {
    const params = { username: 'ana', tag: ['z', 'a'] };
    const auth = duoApiSig.sign(IKEY, SKEY, 'GET', 'localhost', '/auth/v2/x', params, date);
    // Two canonical forms: python's (a before z) and the node client's (as sent).
    expect(canonicalParams(pairsOf(params))).toEqual(['tag=a&tag=z&username=ana', 'tag=z&tag=a&username=ana']);
    const request = signed({ path: '/auth/v2/x', params: pairsOf(params), date, authorization: auth });
    expect(matchSignature(request, signatureOf(auth), [SKEY])).toEqual({ version: 2, keyIndex: 0 });
  });

  it('v5 of a JSON POST covers the body: another body does not verify', () => {
    const params = { username: 'ana', factor: 'push' };
    const body = JSON.stringify(params);
    const auth = duoApiSig.signV5(IKEY, SKEY, 'POST', 'localhost', '/auth/v2/auth', {}, date, body);
    const request = signed({ method: 'POST', path: '/auth/v2/auth', body: { kind: 'json', raw: Buffer.from(body) }, date, authorization: auth });
    expect(matchSignature(request, signatureOf(auth), [SKEY])).toEqual({ version: 5, keyIndex: 0 });
    const forged = { ...request, body: { kind: 'json' as const, raw: Buffer.from(JSON.stringify({ ...params, username: 'eve' })) } };
    expect(matchSignature(forged, signatureOf(auth), [SKEY])).toBeNull();
  });

  it('v5 of a GET hashes the empty body and the absent X-Duo headers', () => {
    const auth = duoApiSig.signV5(IKEY, SKEY, 'GET', 'localhost', '/auth/v2/check', {}, date, '');
    expect(matchSignature(signed({ date, authorization: auth }), signatureOf(auth), [SKEY])).toEqual({ version: 5, keyIndex: 0 });
  });
});

describe('signature version 5 vectors of duo_client_python 5.6.1', () => {
  const file = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'vectors', 'duo-signature-v5.json'), 'utf8')) as {
    ikey: string;
    skey: string;
    vectors: { method: string; host: string; path: string; params: Params; date: string; body: string; headers: Record<string, string>; canonical: string; authorization: string }[];
  };

  it.each(file.vectors.map((v) => [`${v.method} ${v.path}${Object.keys(v.headers).length ? ' with X-Duo headers' : ''}`, v] as const))('%s', (_name, v) => {
    const json = v.method === 'POST';
    const request = signed({
      method: v.method,
      hosts: [v.host],
      path: v.path,
      params: json ? [] : pairsOf(v.params),
      body: json ? { kind: 'json', raw: Buffer.from(v.body, 'utf8') } : { kind: 'none' },
      date: v.date,
      duoHeaders: Object.entries(v.headers).map(([n, value]) => [n.toLowerCase(), value] as const),
      authorization: v.authorization,
    });
    const params = canonicalParams(request.params)[0]!;
    expect(canonicalText(5, { ...request, host: v.host, params, body: json ? Buffer.from(v.body) : Buffer.alloc(0) })).toBe(v.canonical);
    expect(matchSignature(request, signatureOf(v.authorization), [file.skey])).toEqual({ version: 5, keyIndex: 0 });
    // The X-Duo headers are signed: one more, or one changed, and the signature fails.
    const extra = { ...request, duoHeaders: [...request.duoHeaders, ['x-duo-injected', '1'] as const] };
    expect(matchSignature(extra, signatureOf(v.authorization), [file.skey])).toBeNull();
  });
});

describe('which versions cover which requests', () => {
  const date = 'Mon, 01 Jan 2026 08:00:00 -0000';
  const hmac = (digest: 'sha1' | 'sha512', text: string) => createHmac(digest, SKEY).update(text).digest('hex');
  const basic = (hex: string) => `Basic ${Buffer.from(`${IKEY}:${hex}`).toString('base64')}`;

  it('refuses a v2 signature over a JSON body (v2 does not cover the body: it would be forgeable)', () => {
    const raw = Buffer.from('{"username":"eve"}');
    const v2 = canonicalText(2, { date, method: 'POST', host: 'localhost', path: '/auth/v2/auth', params: '' });
    const auth = basic(hmac('sha512', v2));
    expect(matchSignature(signed({ method: 'POST', path: '/auth/v2/auth', body: { kind: 'json', raw }, date, authorization: auth }), signatureOf(auth), [SKEY])).toBeNull();
  });

  it('refuses SHA-1 with v4 (the clients sign v4 and v5 with SHA-512 only)', () => {
    const v4 = canonicalText(4, { date, method: 'GET', host: 'localhost', path: '/auth/v2/check', params: '' });
    const auth = basic(hmac('sha1', v4));
    expect(matchSignature(signed({ date, authorization: auth }), signatureOf(auth), [SKEY])).toBeNull();
  });

  it('refuses version 1 (no date: a captured request would verify forever)', () => {
    const v1 = ['GET', 'localhost', '/auth/v2/check', ''].join('\n');
    const auth = basic(hmac('sha1', v1));
    expect(matchSignature(signed({ date, authorization: auth }), signatureOf(auth), [SKEY])).toBeNull();
  });

  it('accepts the host signed without the port (python signs "localhost", sends "localhost:8443")', () => {
    const text = canonicalText(2, { date, method: 'GET', host: 'localhost', path: '/auth/v2/check', params: '' });
    const auth = basic(hmac('sha1', text));
    expect(matchSignature(signed({ hosts: ['localhost:8443', 'localhost'], date, authorization: auth }), signatureOf(auth), [SKEY])).toEqual({ version: 2, keyIndex: 0 });
    expect(matchSignature(signed({ hosts: ['elsewhere.example:8443', 'elsewhere.example'], date, authorization: auth }), signatureOf(auth), [SKEY])).toBeNull();
  });
});

describe('the Authorization header', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  it.each([
    [undefined, 'missing'],
    ['', 'missing'],
    ['Bearer abc', 'malformed'],
    ['Basic !!!', 'malformed'],
    [`Basic ${b64('no-colon')}`, 'malformed'],
    [`Basic ${b64(':' + 'a'.repeat(40))}`, 'malformed'],
    [`Basic ${b64('DIKEY:')}`, 'malformed'],
    [`Basic ${b64('DI KEY:' + 'a'.repeat(40))}`, 'bad-ikey'],
  ])('%j is %s', (header, expected) => {
    expect(parseAuthorization(header)).toBe(expected);
  });

  it('tells SHA-1 and SHA-512 by length, and keeps the key of a signature of any other shape', () => {
    expect(parseAuthorization(`basic ${b64('DIKEY:' + 'ab'.repeat(20))}`)).toEqual({ ikey: 'DIKEY', signature: { digest: 'sha1', bytes: Buffer.from('ab'.repeat(20), 'hex') } });
    expect(parseAuthorization(`Basic ${b64('DIKEY:' + 'CD'.repeat(64))}`)).toMatchObject({ ikey: 'DIKEY', signature: { digest: 'sha512' } });
    expect(parseAuthorization(`Basic ${b64('DIKEY:' + 'ab'.repeat(32))}`)).toEqual({ ikey: 'DIKEY', signature: null });
    expect(parseAuthorization(`Basic ${b64('DIKEY:' + 'zz'.repeat(20))}`)).toEqual({ ikey: 'DIKEY', signature: null });
  });
});

describe('dates (RFC 2822)', () => {
  it('reads what python and JavaScript write, in any zone, to the same instant', async () => {
    const instants = [0, 1_345_569_758, 1_767_225_600, 1_798_761_599];
    const written = await runPython<{ ts: number; texts: string[] }[]>(
      String.raw`
import email.utils, json, sys
from datetime import datetime, timedelta, timezone
out = []
for ts in json.load(sys.stdin):
    texts = [email.utils.formatdate(ts), email.utils.formatdate(ts, usegmt=True)]
    for minutes in (60, -330, 14 * 60):
        texts.append(email.utils.format_datetime(datetime.fromtimestamp(ts, timezone(timedelta(minutes=minutes)))))
    out.append({'ts': ts, 'texts': texts})
json.dump(out, sys.stdout)
`,
      instants,
    );
    for (const { ts, texts } of written) {
      for (const text of [...texts, new Date(ts * 1000).toUTCString()]) expect([text, parseRfc2822(text)]).toEqual([text, ts * 1000]);
    }
    expect(parseRfc2822('1 Jan 2026 08:00 EST')).toBe(Date.UTC(2026, 0, 1, 13));
  });

  it.each([
    '2026-01-01T08:00:00Z',
    'Mi, 14 Feb 2024 10:00:00 -0000', // a localised weekday: Duo answers 40104 to this
    'Thu, 31 Apr 2026 08:00:00 -0000',
    'Thu, 01 Jan 2026 24:00:00 -0000',
    'Thu, 01 Jan 2026 08:00:00 +2400',
    'Thu, 01 Jan 2026 08:00:00 Z',
    'Thu, 01 Jan 2026 08:00:00',
    '1767254400',
    '',
  ])('refuses %j', (text) => {
    expect(parseRfc2822(text)).toBeNull();
  });
});

describe('the checks of a signed request, in order', () => {
  const now = Date.UTC(2026, 0, 1, 8);
  const at = (ms: number) => new Date(ms).toUTCString();
  const integration = { secretKeys: [SKEY] };

  function request(date: string | null, skey = SKEY, ikey = IKEY, params: Params = {}) {
    const auth = duoApiSig.sign(ikey, skey, 'GET', 'localhost', '/auth/v2/check', params, date ?? '');
    return { method: 'GET', hosts: ['localhost'], path: '/auth/v2/check', params: pairsOf(params), body: { kind: 'none' as const }, date, duoHeaders: [], authorization: auth };
  }
  function lookupOf(known: Record<string, { secretKeys: string[] }>) {
    const seen: string[] = [];
    return { seen, lookup: async (ikey: string) => (seen.push(ikey), known[ikey] ?? null) };
  }

  it('accepts a request dated anywhere within the skew, either way', async () => {
    for (const offset of [-DUO_CLOCK_SKEW_MS, 0, DUO_CLOCK_SKEW_MS]) {
      const { lookup } = lookupOf({ [IKEY]: integration });
      expect(await authenticateSignedRequest(request(at(now + offset)), lookup, now)).toMatchObject({ ok: true, ikey: IKEY, version: 2, keyIndex: 0 });
    }
  });

  it('refuses a stale or future date with 40105 before any look-up', async () => {
    for (const offset of [-DUO_CLOCK_SKEW_MS - 1000, DUO_CLOCK_SKEW_MS + 1000]) {
      const { lookup, seen } = lookupOf({ [IKEY]: integration });
      expect(await authenticateSignedRequest(request(at(now + offset)), lookup, now)).toMatchObject({ ok: false, failure: 'BAD_TIMESTAMP' });
      expect(seen).toEqual([]);
    }
  });

  it('refuses a request without a date, or with one it cannot read, with 40104', async () => {
    const { lookup, seen } = lookupOf({ [IKEY]: integration });
    // The key the request claims is kept, for the door's audit of refused signatures (src/duo/refused-signatures.ts).
    expect(await authenticateSignedRequest(request(null), lookup, now)).toEqual({ ok: false, failure: 'MISSING_TIMESTAMP', claimed: { ikey: IKEY, signatureMissing: false } });
    expect(await authenticateSignedRequest(request('yesterday'), lookup, now)).toMatchObject({ ok: false, failure: 'MISSING_TIMESTAMP' });
    expect(seen).toEqual([]);
  });

  it('refuses an unknown integration key with 40102 and a wrong secret key with 40103', async () => {
    const { lookup, seen } = lookupOf({ [IKEY]: integration });
    expect(await authenticateSignedRequest(request(at(now), SKEY, 'DIUNKNOWNUNKNOWN0000'), lookup, now)).toEqual({ ok: false, failure: 'INVALID_INTEGRATION_KEY' });
    expect(await authenticateSignedRequest(request(at(now), 'a wrong secret key'), lookup, now)).toEqual({ ok: false, failure: 'INVALID_SIGNATURE', claimed: { ikey: IKEY, integration, signatureMissing: false } });
    expect(seen).toEqual(['DIUNKNOWNUNKNOWN0000', IKEY]);
  });

  it('accepts the previous secret key during a rotation, and says which key matched', async () => {
    const { lookup } = lookupOf({ [IKEY]: { secretKeys: ['the new secret key', SKEY] } });
    expect(await authenticateSignedRequest(request(at(now)), lookup, now)).toMatchObject({ ok: true, keyIndex: 1 });
  });

  it('refuses a parameter added after signing', async () => {
    const { lookup } = lookupOf({ [IKEY]: integration });
    const r = request(at(now), SKEY, IKEY, { username: 'ana' });
    expect(await authenticateSignedRequest(r, lookup, now)).toMatchObject({ ok: true });
    expect(await authenticateSignedRequest({ ...r, params: [...r.params, ['factor', 'push']] }, lookup, now)).toMatchObject({ ok: false, failure: 'INVALID_SIGNATURE' });
  });
});

describe('form decoding', () => {
  it('decodes "+" and %-escapes to UTF-8, keeps order and repeats, and refuses broken input', () => {
    expect(decodeFormPairs('b=x+y&a=%C3%A9&b=2&&flag')).toEqual([
      ['b', 'x y'],
      ['a', 'é'],
      ['b', '2'],
      ['flag', ''],
    ]);
    expect(decodeFormPairs('a=%ZZ')).toBeNull();
    expect(decodeFormPairs('a=%FF')).toBeNull();
    expect(decodeFormPairs(Buffer.from([0x61, 0x3d, 0xff]))).toBeNull();
  });
});
