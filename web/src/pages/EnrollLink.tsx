import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { Link, navigate } from '../router';

/**
 * An application's enrollment link (a Duo preauth's `enroll_portal_url`): the one-time token in
 * the fragment (never sent to a server log or a Referer) opens this user's enrollment, then the
 * usual enrollment screen takes over.
 */
export function EnrollLink() {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const token = window.location.hash.replace(/^#/, '');
    if (!token) {
      setError('This link is incomplete. Open it again from the application.');
      return;
    }
    let current = true;
    api
      .post('/login/enrollment-link', { body: { token } })
      .then(() => current && navigate('/enroll', { replace: true }))
      .catch((cause: unknown) => current && setError(errorMessage(cause)));
    return () => {
      current = false;
    };
  }, []);
  return (
    <Page title="Set up multi-factor authentication">
      <Card>
        {error ? (
          <>
            <ErrorAlert message={error} />
            <p>
              Return to the application and sign in again for a new link, or <Link to="/login">sign in to Tessera</Link>.
            </p>
          </>
        ) : (
          <StatusNotice message="Opening your enrollment…" />
        )}
      </Card>
    </Page>
  );
}
