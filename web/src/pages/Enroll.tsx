import { useState } from 'react';
import { Enrollment } from '../factors/Enrollment';
import { Card, Page } from '../components/Page';
import { signInAgain, useFinishSignIn, useSession } from '../session';

/** First-login enrollment (/enroll, reference "Enrolling users"): mandatory before the homepage. */
export function Enroll() {
  const finishSignIn = useFinishSignIn();
  const { logOut } = useSession();
  // Once the authenticator is set up (backup codes on screen) there is nothing left to cancel.
  const [enrolled, setEnrolled] = useState(false);
  // An enrollment an application's link opened (a Duo enroll_portal_url) signs in nowhere: back to the application.
  const [returnTo, setReturnTo] = useState<string | null>(null);
  if (returnTo !== null) {
    return (
      <Page title="Set up multi-factor authentication">
        <Card title="You are all set">
          <p role="status" className="notice notice-info">
            Your authenticator is set up. Go back to {returnTo} and sign in again.
          </p>
        </Card>
      </Page>
    );
  }
  return (
    <Page title="Set up multi-factor authentication">
      <Enrollment
        mode="first"
        onFinished={({ notice, application }) => (application === undefined ? void finishSignIn(notice) : setReturnTo(application))}
        onSignedOut={signInAgain}
        onEnrolled={() => setEnrolled(true)}
      />
      {enrolled ? null : (
        <p className="page-footer">
          <button type="button" className="link-button" onClick={() => void logOut()}>
            Cancel and sign out
          </button>
        </p>
      )}
    </Page>
  );
}
