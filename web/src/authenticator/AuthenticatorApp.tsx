import { Fragment, useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import {
  activate,
  answerTransaction,
  DeviceError,
  passcode,
  fromB64url,
  pendingTransactions,
  setWebPushSubscription,
  streamUrl,
  vapidPublicKey,
  type TransactionView,
} from './device';
import { accountStore, type StoredAccount } from './store';
import { useConfirm } from '../components/Dialog';

/** How long "Activated for …" stays (unless a sign-in request comes first). */
const ACTIVATION_NOTICE_MS = 60_000;
/** A notice about a request stays until the request would have expired, and at least this long. */
const NOTICE_MIN_MS = 5000;

/** Whether the browser says it is online (`online` / `offline` events). */
function useOnline(): boolean {
  const [online, setOnline] = useState(() => typeof navigator === 'undefined' || navigator.onLine !== false);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => {
      window.removeEventListener('online', on);
      window.removeEventListener('offline', off);
    };
  }, []);
  return online;
}

/** Ticks every second while `active`: the time now, for countdowns and for notices that expire. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** How often the app asks for pending requests besides the stream (a fallback when events do not arrive). */
const POLL_MS = 5000;
/** After the stream fails: wait, then open it again with a fresh signature (a signature is good for 2 minutes only). */
const STREAM_RETRY_MS = 5000;

const message = (cause: unknown) => (cause instanceof Error ? cause.message : 'Something went wrong. Please try again.');

interface Fragment {
  /** `#activate=<code>`: a link or QR code of enrollment. */
  activate: string | null;
  /** `#request=<transaction id>`: a tapped notification; that request is shown first and highlighted. */
  request: string | null;
}

/** What the fragment asks: read, then cleared so a reload does not try it again. */
function takeFragment(): Fragment {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const fragment = { activate: params.get('activate'), request: params.get('request') };
  if (fragment.activate || fragment.request) history.replaceState(null, '', window.location.pathname + window.location.search);
  return fragment;
}

// Read once per page load (StrictMode runs effects and initialisers twice in development).
let initialFragment: Fragment | undefined;
const pageFragment = () => (initialFragment ??= takeFragment());
let activationCode: string | null | undefined;

/**
 * The Tessera Authenticator (/authenticator): activation from a link or QR code, offline
 * passcodes, and push requests to approve (with the number shown on the login screen) or deny.
 */
export function AuthenticatorApp() {
  const [accounts, setAccounts] = useState<StoredAccount[] | null>(null);
  const [activation, setActivation] = useState<{ state: 'working' | 'done' | 'failed'; text: string } | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [focusId, setFocusId] = useState<string | null>(() => pageFragment().request);

  // A notification tapped while the app is open: the service worker says which request (or the fragment changes).
  useEffect(() => {
    const onHash = () => {
      const { request } = takeFragment();
      if (request) setFocusId(request);
    };
    const onMessage = (event: MessageEvent<unknown>) => {
      const data = event.data as { type?: unknown; transactionId?: unknown } | null;
      if (data && data.type === 'open-request' && typeof data.transactionId === 'string') setFocusId(data.transactionId);
    };
    window.addEventListener('hashchange', onHash);
    navigator.serviceWorker?.addEventListener('message', onMessage);
    return () => {
      window.removeEventListener('hashchange', onHash);
      navigator.serviceWorker?.removeEventListener('message', onMessage);
    };
  }, []);

  // "Activated for …" belongs to the activation: it goes after a minute, or when a sign-in request arrives.
  useEffect(() => {
    if (activation?.state !== 'done') return;
    const timer = setTimeout(() => setActivation(null), ACTIVATION_NOTICE_MS);
    return () => clearTimeout(timer);
  }, [activation]);
  const online = useOnline();
  // The browser may say "online" while the server cannot be reached (a captive portal, the server down): the polls tell.
  const [reachable, setReachable] = useState(true);

  const reload = useCallback(async () => {
    try {
      setAccounts(await accountStore.list());
    } catch (cause) {
      setLoadError(message(cause));
      setAccounts([]);
    }
  }, []);

  const activateWith = useCallback(
    async (code: string) => {
      setActivation({ state: 'working', text: 'Activating this device…' });
      try {
        const device = await activate(code);
        await accountStore.put({ ...device, addedAt: Date.now() });
        setActivation({ state: 'done', text: `Activated for ${device.account.email} at ${device.account.firmName}.` });
      } catch (cause) {
        setActivation({ state: 'failed', text: message(cause) });
      }
      await reload();
    },
    [reload],
  );

  useEffect(() => {
    if (activationCode === undefined) activationCode = pageFragment().activate;
    const code = activationCode;
    activationCode = null;
    if (code) void activateWith(code);
    else void reload();
  }, [activateWith, reload]);

  return (
    <main className="auth-shell">
      <h1>Tessera Authenticator</h1>
      {online && reachable ? null : (
        <p role="status" className="notice notice-warning" aria-label="Offline">
          {online ? 'The server cannot be reached right now' : 'This phone is offline'}: sign-in requests cannot reach it until
          it is back online. Passcodes still work.
        </p>
      )}
      {activation ? (
        <p role={activation.state === 'failed' ? 'alert' : 'status'} className={`notice ${activation.state === 'failed' ? 'notice-error' : 'notice-info'}`}>
          {activation.text}
        </p>
      ) : null}
      {loadError ? (
        <p role="alert" className="notice notice-error">
          {loadError}
        </p>
      ) : null}
      <ScanButton onCode={activateWith} />
      {accounts === null ? (
        <p className="muted">Loading…</p>
      ) : (
        <>
          <Requests
            accounts={accounts}
            focusId={focusId}
            onRequest={() => setActivation((a) => (a?.state === 'done' ? null : a))}
            onReachable={setReachable}
          />
          <section aria-labelledby="accounts-heading">
            <h2 id="accounts-heading">Accounts</h2>
            {accounts.length > 0 ? <Notifications accounts={accounts} /> : null}
            {accounts.length === 0 ? (
              <p className="muted">
                No account yet. When you set up multi-factor authentication, scan the QR code with this app or open its link on
                this phone.
              </p>
            ) : (
              accounts.map((a) => <Account key={a.deviceId} account={a} onRemoved={() => void reload()} />)
            )}
          </section>
        </>
      )}
    </main>
  );
}

function Account({ account, onRemoved }: { account: StoredAccount; onRemoved(): void }) {
  const [confirm, confirmDialog] = useConfirm();
  const [code, setCode] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const hideTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  useEffect(() => () => clearTimeout(hideTimer.current), []);

  async function show() {
    setError(null);
    try {
      setCode(await passcode(account));
      const period = (account.period || 30) * 1000;
      clearTimeout(hideTimer.current);
      // Hidden when it stops being valid.
      hideTimer.current = setTimeout(() => setCode(null), period - (Date.now() % period));
    } catch (cause) {
      setError(message(cause));
    }
  }

  async function remove() {
    if (!(await confirm({ title: `Remove ${account.account.email} at ${account.account.firmName}?`, body: 'This app stops showing its passcodes and approving its sign-ins. To use it again, set it up from My security.', confirmLabel: 'Remove', danger: true }))) return;
    // The server stops sending this device notifications (best effort: the app may be offline).
    await setWebPushSubscription(account, null).catch(() => undefined);
    await accountStore.remove(account.deviceId);
    onRemoved();
  }

  return (
    <article className="auth-account" aria-label={`${account.account.email} at ${account.account.firmName}`}>
      <h3>{account.account.firmName}</h3>
      {confirmDialog}
      <p>
        {account.account.userName} <span className="muted">({account.account.email})</span>
      </p>
      {code ? (
        <p className="auth-passcode" aria-label={`Passcode for ${account.account.email}`}>
          {code}
        </p>
      ) : null}
      {error ? (
        <p role="alert" className="notice notice-error">
          {error}
        </p>
      ) : null}
      <div className="form-actions">
        <button type="button" onClick={() => void show()}>
          Show passcode
        </button>
        <button type="button" className="button-secondary" onClick={() => void remove()}>
          Remove
        </button>
      </div>
    </article>
  );
}

interface Item {
  account: StoredAccount;
  tx: TransactionView;
}

/** A line about a request that has left the list (answered, withdrawn), shown until the request would have expired. */
interface RequestNotice {
  text: string;
  until: number;
}

/** What the app says when the stream withdraws a request it shows; superseded: nothing (the newer request replaces it). */
const WITHDRAWN_TEXT: Partial<Record<string, (tx: TransactionView) => string>> = {
  cancelled: (tx) => `The sign-in of ${tx.email} ended on the other screen, so its request was withdrawn.`,
  answered: (tx) => `The request for ${tx.email} was answered on another device.`,
  expired: (tx) => `The request for ${tx.email} expired.`,
};

/**
 * Pending requests of every account: a stream per account, and a poll every 5 s as a fallback.
 * A request leaves the list at once when the stream withdraws it (superseded by a newer one, its
 * sign-in ended another way, answered elsewhere) and when it expires; a notice about a request
 * ("Approved…", "The number did not match…") goes when the request would have expired.
 * The request of `focusId` (a tapped notification) comes first, highlighted and scrolled to.
 */
function Requests({
  accounts,
  focusId,
  onRequest,
  onReachable,
}: {
  accounts: StoredAccount[];
  focusId: string | null;
  onRequest(): void;
  /** Whether the last poll reached the server (false: a network error). */
  onReachable(reachable: boolean): void;
}) {
  const [byAccount, setByAccount] = useState<Record<string, TransactionView[]>>({});
  const [done, setDone] = useState<Record<string, RequestNotice | null>>({});
  const [polled, setPolled] = useState<Record<string, true>>({});
  const [withdrawn, setWithdrawn] = useState<Record<string, true>>({});
  // The requests on screen, for the stream's handlers (which outlive a render).
  const shown = useRef(byAccount);
  shown.current = byAccount;
  // When each request expires on THIS phone's clock: first seen + its lifetime. The server's
  // expiresAt is on the server's clock, and a phone's clock may be minutes off.
  const deadlines = useRef(new Map<string, number>()).current;
  const deadlineOf = (tx: TransactionView) => {
    let deadline = deadlines.get(tx.id);
    if (deadline === undefined) deadlines.set(tx.id, (deadline = Date.now() + Math.max(0, tx.expiresAt - tx.createdAt)));
    return deadline;
  };

  useEffect(() => {
    let stopped = false;
    const cleanups: (() => void)[] = [];
    for (const account of accounts) {
      // Events seen since the last poll started: kept even if that poll missed them.
      let sinceLastPoll = new Map<string, TransactionView>();
      const merge = (items: TransactionView[]) => {
        items.forEach(deadlineOf);
        setByAccount((current) => {
          const ids = new Set(items.map((t) => t.id));
          const extra = [...sinceLastPoll.values()].filter((t) => !ids.has(t.id));
          return { ...current, [account.deviceId]: [...items, ...extra] };
        });
      };

      let pollTimer: ReturnType<typeof setTimeout> | undefined;
      const poll = async () => {
        if (stopped) return;
        sinceLastPoll = new Map();
        try {
          merge(await pendingTransactions(account));
          if (!stopped) onReachable(true);
        } catch (cause) {
          // Offline or the device was removed: the next poll tries again.
          if (!stopped && cause instanceof DeviceError && cause.code === 'NETWORK_ERROR') onReachable(false);
        }
        if (!stopped) setPolled((p) => (p[account.deviceId] ? p : { ...p, [account.deviceId]: true }));
        if (!stopped) pollTimer = setTimeout(() => void poll(), POLL_MS);
      };
      void poll();

      let source: EventSource | null = null;
      let retryTimer: ReturnType<typeof setTimeout> | undefined;
      const connect = async () => {
        if (stopped || typeof EventSource === 'undefined') return;
        const url = await streamUrl(account);
        if (stopped) return;
        source = new EventSource(url);
        source.addEventListener('push', (event) => {
          try {
            const tx = JSON.parse((event as MessageEvent<string>).data) as TransactionView;
            sinceLastPoll.set(tx.id, tx);
            deadlineOf(tx);
            onRequest();
            setByAccount((current) => {
              const list = current[account.deviceId] ?? [];
              return list.some((t) => t.id === tx.id) ? current : { ...current, [account.deviceId]: [...list, tx] };
            });
          } catch {
            // Not a transaction view: ignored.
          }
        });
        source.addEventListener('withdrawn', (event) => {
          try {
            const { id, reason } = JSON.parse((event as MessageEvent<string>).data) as { id: string; reason: string };
            sinceLastPoll.delete(id);
            const tx = shown.current[account.deviceId]?.find((t) => t.id === id);
            const words = WITHDRAWN_TEXT[reason];
            // Answered here: this app already says how (its own notice); else say why it went, where that matters.
            if (tx && words) setDone((d) => (id in d ? d : { ...d, [id]: { text: words(tx), until: Math.max(deadlineOf(tx), Date.now() + NOTICE_MIN_MS) } }));
            setWithdrawn((w) => ({ ...w, [id]: true }));
            setByAccount((current) => ({ ...current, [account.deviceId]: (current[account.deviceId] ?? []).filter((t) => t.id !== id) }));
          } catch {
            // Not a withdrawal: ignored.
          }
        });
        source.onerror = () => {
          // The browser would retry with the same signature (soon stale, its nonce used): reconnect with a new one.
          source?.close();
          source = null;
          if (!stopped) retryTimer = setTimeout(() => void connect(), STREAM_RETRY_MS);
        };
      };
      void connect();

      cleanups.push(() => {
        clearTimeout(pollTimer);
        clearTimeout(retryTimer);
        source?.close();
      });
    }
    return () => {
      stopped = true;
      for (const c of cleanups) c();
    };
  }, [accounts]);

  const listed = accounts.flatMap((account) => (byAccount[account.deviceId] ?? []).map((tx) => ({ account, tx })));
  const notices = Object.values(done).filter((n): n is RequestNotice => n !== null);
  const now = useNow(listed.length > 0 || notices.length > 0);
  // Gone from the list: answered here, withdrawn by the stream (a poll may still bring it back for a moment), expired.
  const items: Item[] = listed.filter(({ tx }) => !(tx.id in done) && !withdrawn[tx.id] && deadlineOf(tx) > now);
  const focused = focusId ? items.findIndex((i) => i.tx.id === focusId) : -1;
  if (focused > 0) items.unshift(...items.splice(focused, 1));
  const allPolled = accounts.every((a) => polled[a.deviceId]);
  const focusGone = focusId !== null && focused === -1 && !(focusId in done) && allPolled;
  const notice = notices.filter((n) => n.until > now).at(-1);

  return (
    <section aria-labelledby="requests-heading">
      <h2 id="requests-heading">Sign-in requests</h2>
      {notice ? (
        <p role="status" className="notice notice-info">
          {notice.text}
        </p>
      ) : null}
      {focusGone ? (
        <p role="status" className="notice notice-info">
          The request you opened from the notification was already answered or has expired.
        </p>
      ) : null}
      {items.length === 0 ? (
        <p className="muted">No request waiting.</p>
      ) : (
        items.map(({ account, tx }) => (
          <Request
            key={tx.id}
            account={account}
            tx={tx}
            secondsLeft={Math.max(0, Math.ceil((deadlineOf(tx) - now) / 1000))}
            highlighted={tx.id === focusId}
            onAnswered={(text) => setDone((d) => ({ ...d, [tx.id]: { text, until: Math.max(deadlineOf(tx), Date.now() + NOTICE_MIN_MS) } }))}
          />
        ))
      )}
    </section>
  );
}

const STATUS_TEXT: Record<string, string> = {
  approved: 'Approved. The sign-in continues on the other screen.',
  denied: 'Denied. Nobody signs in with this request.',
  fraud: 'Reported as fraudulent. Your firm’s administrators were told, and push requests to you pause for a while.',
};

/** The request's time, with its zone: "4 Dec 2026, 14:32:05 GMT+1". */
const requestTime = (epochMs: number) =>
  new Date(epochMs).toLocaleString([], { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });

function Request({
  account,
  tx,
  secondsLeft,
  highlighted,
  onAnswered,
}: {
  account: StoredAccount;
  tx: TransactionView;
  secondsLeft: number;
  highlighted: boolean;
  onAnswered(text: string): void;
}) {
  const article = useRef<HTMLElement>(null);
  const [number, setNumber] = useState('');
  const [denying, setDenying] = useState(false);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const numberId = useId();
  const detailsId = useId();

  async function send(answer: 'approve' | 'deny', o: { reason?: 'fraud' | 'mistake'; number?: string } = {}) {
    setPending(true);
    setError(null);
    try {
      const { status } = await answerTransaction(account, tx.id, answer, o);
      const text =
        answer === 'approve' && status !== 'approved'
          ? 'The number did not match the login screen, so the request was denied. Sign in again if it was you.'
          : (STATUS_TEXT[status] ?? `Answered: ${status}.`);
      onAnswered(text);
    } catch (cause) {
      setPending(false);
      if (cause instanceof DeviceError && (cause.code === 'TRANSACTION_NOT_PENDING' || cause.code === 'NOT_FOUND')) {
        onAnswered('This request was already answered or has expired.');
        return;
      }
      setError(message(cause));
    }
  }

  function approve(event: FormEvent) {
    event.preventDefault();
    const typed = number.replace(/\s+/g, '');
    if (!/^\d+$/.test(typed) || typed.length !== tx.numberDigits) {
      setError(`Type the ${tx.numberDigits}-digit number shown on the login screen.`);
      return;
    }
    void send('approve', { number: typed });
  }

  const when = requestTime(tx.createdAt);

  // Opened from its notification: brought into view, and focus moves to it.
  useEffect(() => {
    if (!highlighted || !article.current) return;
    article.current.scrollIntoView({ block: 'start', behavior: 'smooth' });
    article.current.focus({ preventScroll: true });
  }, [highlighted]);

  return (
    <article
      ref={article}
      className={highlighted ? 'auth-request auth-request-highlight' : 'auth-request'}
      aria-label={`Sign-in request for ${tx.email}`}
      aria-current={highlighted ? 'true' : undefined}
      tabIndex={highlighted ? -1 : undefined}
    >
      {highlighted ? <p className="auth-request-flag">Opened from your notification</p> : null}
      {/* Duo's `type` turns a sign-in into a request to verify ("Verify request", then "Transaction: Payroll"), as Duo Mobile words it. */}
      <h3>{tx.requestType ? 'Verify request' : 'Are you signing in?'}</h3>
      {tx.requestType ? (
        <p className="auth-request-type">
          {tx.requestType}: {tx.app}
        </p>
      ) : null}
      <dl>
        <dt>Firm</dt>
        <dd>{tx.firmName}</dd>
        {tx.displayUsername ? (
          <>
            <dt>User</dt>
            <dd>{tx.displayUsername}</dd>
            <dt>Account</dt>
            <dd>
              {tx.userName} ({tx.email})
            </dd>
          </>
        ) : (
          <>
            <dt>User</dt>
            <dd>
              {tx.userName} ({tx.email})
            </dd>
          </>
        )}
        <dt>App</dt>
        <dd>{tx.app}</dd>
        {tx.requestType ? (
          <>
            <dt>Request</dt>
            <dd>{tx.requestType}</dd>
          </>
        ) : null}
        <dt>IP address</dt>
        <dd>{tx.ip ?? 'unknown'}</dd>
        <dt>Browser</dt>
        <dd>{tx.browser}</dd>
        <dt>Operating system</dt>
        <dd>{tx.os}</dd>
        <dt>Time</dt>
        <dd>{when}</dd>
      </dl>
      {tx.details.length > 0 ? (
        <section className="auth-request-details" aria-labelledby={detailsId}>
          <h4 id={detailsId}>Sent by {tx.app}</h4>
          <dl>
            {tx.details.map((d, i) => (
              <Fragment key={i}>
                <dt>{d.label}</dt>
                <dd>{d.value}</dd>
              </Fragment>
            ))}
          </dl>
        </section>
      ) : null}
      <p className="muted" role="timer" aria-label="Time left to answer">
        Answer within {secondsLeft} s
      </p>
      {error ? (
        <p role="alert" className="notice notice-error">
          {error}
        </p>
      ) : null}
      {denying ? (
        <div className="form">
          <p>Why are you denying it?</p>
          <div className="form-actions">
            <button type="button" className="button-danger" disabled={pending} onClick={() => void send('deny', { reason: 'fraud' })}>
              It seemed fraudulent
            </button>
            <button type="button" className="button-secondary" disabled={pending} onClick={() => void send('deny', { reason: 'mistake' })}>
              It was a mistake
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={approve} noValidate aria-label="Answer">
          <div className="field">
            <label htmlFor={numberId}>Number shown on the login screen</label>
            <input
              id={numberId}
              value={number}
              onChange={(e) => setNumber(e.target.value)}
              inputMode="numeric"
              autoComplete="off"
              maxLength={tx.numberDigits + 2}
            />
          </div>
          <div className="form-actions">
            <button type="submit" disabled={pending}>
              Approve
            </button>
            <button type="button" className="button-secondary" disabled={pending} onClick={() => setDenying(true)}>
              Deny
            </button>
          </div>
        </form>
      )}
    </article>
  );
}

const NOTIFICATIONS_BLOCKED =
  'Notifications are blocked for this app. To get sign-in requests when the app is closed, allow notifications for this site in your browser settings, then try again. Until then, requests appear here while the app is open.';
const NOTIFICATIONS_DISMISSED =
  'Notifications were not allowed. Sign-in requests still appear here while the app is open; tap "Turn on notifications" again to allow them.';

const pushSupported = () =>
  typeof window !== 'undefined' && 'PushManager' in window && 'Notification' in window && 'serviceWorker' in navigator;

/** Whether a subscription was made with this VAPID key (a subscription made with another one cannot be reused). */
function sameKey(subscription: PushSubscription, key: Uint8Array): boolean {
  const current = subscription.options.applicationServerKey;
  if (!current) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === key.length && bytes.every((b, i) => b === key[i]);
}

/**
 * "Turn on notifications": Web Push for every account of this app, where the browser has
 * PushManager and the service worker is registered (else nothing is shown). The one
 * subscription of this browser is stored with each device (signed).
 */
function Notifications({ accounts }: { accounts: StoredAccount[] }) {
  const [registration, setRegistration] = useState<ServiceWorkerRegistration | null>(null);
  const [on, setOn] = useState(false);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!pushSupported()) return;
    let stopped = false;
    void navigator.serviceWorker.ready.then(async (reg) => {
      if (stopped) return;
      setRegistration(reg);
      if (Notification.permission === 'denied') setError(NOTIFICATIONS_BLOCKED);
    });
    return () => {
      stopped = true;
    };
  }, []);

  // Already subscribed: "on", and every account (one added since, too) has the subscription.
  useEffect(() => {
    if (!registration) return;
    let stopped = false;
    void (async () => {
      try {
        const existing = await registration.pushManager.getSubscription();
        if (stopped || !existing || Notification.permission !== 'granted') return;
        setOn(true);
        const json = existing.toJSON();
        await Promise.allSettled(accounts.map((a) => setWebPushSubscription(a, json)));
      } catch {
        // Not subscribed, or offline: the button stays.
      }
    })();
    return () => {
      stopped = true;
    };
  }, [registration, accounts]);

  async function turnOn() {
    if (!registration) return;
    setPending(true);
    setError(null);
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        setError(permission === 'denied' ? NOTIFICATIONS_BLOCKED : NOTIFICATIONS_DISMISSED);
        return;
      }
      const key = fromB64url(await vapidPublicKey());
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && !sameKey(subscription, key)) {
        await subscription.unsubscribe();
        subscription = null;
      }
      try {
        subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
      } catch (cause) {
        setError(
          `This browser could not subscribe to notifications (${message(cause)}). Sign-in requests still appear here while the app is open.`,
        );
        return;
      }
      const json = subscription.toJSON();
      const results = await Promise.allSettled(accounts.map((a) => setWebPushSubscription(a, json)));
      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failures.length === results.length) {
        setError(`Notifications could not be turned on: ${message(failures[0]?.reason)}`);
        return;
      }
      setOn(true);
      if (failures.length > 0) {
        setError(
          `Notifications are on, but ${failures.length} of ${results.length} accounts could not be updated: ${message(failures[0]!.reason)} Try again later.`,
        );
      }
    } catch (cause) {
      setError(`Notifications could not be turned on: ${message(cause)}`);
    } finally {
      setPending(false);
    }
  }

  if (!registration) return null;
  return (
    <div className="auth-notifications">
      {error ? (
        <p role="alert" className="notice notice-error">
          {error}
        </p>
      ) : null}
      {on ? (
        <p role="status" className="notice notice-info">
          Notifications are on. Sign-in requests reach this device even when the app is closed.
        </p>
      ) : (
        <div className="form-actions">
          <button type="button" disabled={pending} onClick={() => void turnOn()}>
            Turn on notifications
          </button>
        </div>
      )}
    </div>
  );
}

/** "Scan QR code" with the camera, where the browser has BarcodeDetector (else no button). */
function ScanButton({ onCode }: { onCode(code: string): void }) {
  const [scanning, setScanning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const video = useRef<HTMLVideoElement>(null);
  const supported = typeof window !== 'undefined' && 'BarcodeDetector' in window && !!navigator.mediaDevices?.getUserMedia;

  useEffect(() => {
    if (!scanning) return;
    let stream: MediaStream | null = null;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    type Detector = { detect(source: HTMLVideoElement): Promise<{ rawValue: string }[]> };
    const Ctor = (window as unknown as { BarcodeDetector: new (o: { formats: string[] }) => Detector }).BarcodeDetector;
    const detector = new Ctor({ formats: ['qr_code'] });
    void (async () => {
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
        if (stopped || !video.current) return;
        video.current.srcObject = stream;
        await video.current.play();
        const tick = async () => {
          if (stopped || !video.current) return;
          try {
            for (const found of await detector.detect(video.current)) {
              const url = new URL(found.rawValue, window.location.href);
              const code = new URLSearchParams(url.hash.slice(1)).get('activate');
              if (code) {
                setScanning(false);
                onCode(code);
                return;
              }
            }
          } catch {
            // Not ready yet.
          }
          timer = setTimeout(() => void tick(), 300);
        };
        void tick();
      } catch (cause) {
        setError(message(cause));
        setScanning(false);
      }
    })();
    return () => {
      stopped = true;
      clearTimeout(timer);
      stream?.getTracks().forEach((t) => t.stop());
    };
  }, [scanning, onCode]);

  if (!supported) return null;
  return (
    <div>
      {error ? (
        <p role="alert" className="notice notice-error">
          {error}
        </p>
      ) : null}
      {scanning ? (
        <>
          <video ref={video} muted playsInline style={{ width: '100%', maxWidth: 320 }} />
          <div className="form-actions">
            <button type="button" className="button-secondary" onClick={() => setScanning(false)}>
              Stop scanning
            </button>
          </div>
        </>
      ) : (
        <div className="form-actions">
          <button type="button" className="button-secondary" onClick={() => setScanning(true)}>
            Scan QR code
          </button>
        </div>
      )}
    </div>
  );
}
