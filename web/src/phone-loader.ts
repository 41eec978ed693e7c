import { useEffect, useState } from 'react';

// The phone helpers carry libphonenumber-js's metadata (about 120 KB): loaded on first use
// (the enrollment screens, the enrolled users' list), not with every page of the app.

type PhoneModule = typeof import('./phone');

let loaded: PhoneModule | null = null;
let loading: Promise<PhoneModule> | null = null;

export function loadPhone(): Promise<PhoneModule> {
  loading ??= import('./phone').then((m) => (loaded = m));
  return loading;
}

/** The phone helpers once loaded (null for the first render): a screen shows plain numbers until then. */
export function usePhone(): PhoneModule | null {
  const [phone, setPhone] = useState(loaded);
  useEffect(() => {
    if (!phone) void loadPhone().then(setPhone);
  }, [phone]);
  return phone;
}
