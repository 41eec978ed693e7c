import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CATALOGUE, SERVICE_FAULTS, type ErrorCode } from '../src/core/errors.js';
import { WEB_ERROR_STATUS } from '../src/web/error-status.js';

const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

describe('error codes', () => {
  it('are stable UPPER_SNAKE names, each with a default message a person can read', () => {
    for (const code of codes) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]*[A-Z0-9]$/);
      expect(ERROR_CATALOGUE[code]).toMatch(/^[A-Z].*[.)]$/);
    }
  });

  it('the web door gives every code a status, and a 5xx exactly to the service faults', () => {
    expect(Object.keys(WEB_ERROR_STATUS).sort()).toEqual([...codes].sort());
    const fiveHundreds = codes.filter((c) => WEB_ERROR_STATUS[c] >= 500).sort();
    expect(fiveHundreds).toEqual([...SERVICE_FAULTS].sort());
    for (const code of codes) expect(WEB_ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
  });

  it('an AppError carries no HTTP status: its code, the default message unless given one, details and when to retry', () => {
    const plain = new AppError('NO_SEAT');
    expect([plain.code, plain.message, plain.details, plain.retryAfterSeconds, 'status' in plain]).toEqual(['NO_SEAT', ERROR_CATALOGUE.NO_SEAT, undefined, undefined, false]);
    const locked = new AppError('MFA_LOCKED', 'Locked for 2 minutes.', { retryAfterSeconds: 120 });
    expect([locked.message, locked.retryAfterSeconds, locked.details]).toEqual(['Locked for 2 minutes.', 120, { retryAfterSeconds: 120 }]);
  });
});
