/**
 * The accounts of this Tessera Authenticator, in IndexedDB: one record per activated device
 * (several accounts, of several firms). The private key is a non-extractable CryptoKey, which
 * IndexedDB stores as is (structured clone): it can sign, never be read out.
 */

export interface AccountInfo {
  firmName: string;
  userName: string;
  email: string;
}

export interface StoredAccount {
  deviceId: string;
  privateKey: CryptoKey;
  /** Base32 TOTP secret for offline passcodes. */
  secret: string;
  period: number;
  digits: number;
  account: AccountInfo;
  addedAt: number;
}

const DB_NAME = 'tessera-authenticator';
const STORE = 'accounts';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'deviceId' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error('IndexedDB is not available.'));
  });
}

async function withStore<T>(mode: IDBTransactionMode, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = run(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error ?? request.error ?? new Error('IndexedDB failed.'));
      tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted.'));
    });
  } finally {
    db.close();
  }
}

export const accountStore = {
  async list(): Promise<StoredAccount[]> {
    const all = await withStore<StoredAccount[]>('readonly', (s) => s.getAll() as IDBRequest<StoredAccount[]>);
    return all.sort((a, b) => a.addedAt - b.addedAt);
  },
  async put(account: StoredAccount): Promise<void> {
    await withStore('readwrite', (s) => s.put(account));
  },
  async remove(deviceId: string): Promise<void> {
    await withStore('readwrite', (s) => s.delete(deviceId));
  },
};
