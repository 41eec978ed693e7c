import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import '../styles.css';
import './authenticator.css';
import { AuthenticatorApp } from './AuthenticatorApp';

const root = document.getElementById('root');
if (!root) throw new Error('authenticator.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <AuthenticatorApp />
  </StrictMode>,
);

// The app shell is cached so the app opens offline (passcodes need no network).
if ('serviceWorker' in navigator) {
  window.addEventListener('load', () => {
    navigator.serviceWorker.register('/authenticator-sw.js', { scope: '/authenticator' }).catch(() => undefined);
  });
}
