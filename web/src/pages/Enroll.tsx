import { useState } from 'react';
import { Enrollment } from '../factors/Enrollment';
import { Page } from '../components/Page';
import { signInAgain, useFinishSignIn, useSession } from '../session';

/** First-login enrollment (/enroll, reference "Enrolling users"): mandatory before the homepage. */
export function Enroll() {
  const finishSignIn = useFinishSignIn();
  const { logOut } = useSession();
  // Once the authenticator is set up (backup codes on screen) there is nothing left to cancel.
  const [enrolled, setEnrolled] = useState(false);
  return (
    <Page title="Set up multi-factor authentication">
      <Enrollment mode="first" onFinished={({ notice }) => void finishSignIn(notice)} onSignedOut={signInAgain} onEnrolled={() => setEnrolled(true)} />
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
