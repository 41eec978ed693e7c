// The shape every factor of the browser app has, as the server's factors share one shape
// (src/factors/factor.ts). A factor's folder holds its enrollment screen and its step of the
// second factor; registry.ts lists the factors, and the two shells (the enrollment screen and
// the second-factor page) take what they show from that list and know no factor by name.
import type { ComponentType, ReactNode } from 'react';
import type { AuthenticatorMethod, EnrollmentInfo, EnrollmentState, MfaChallenge, SecondFactorMethod } from '../api';

/** What was set up: an authenticator app, a Tessera Authenticator, a security key, or a passkey (a key that signs in alone). */
export type AddedKind = AuthenticatorMethod | 'passkey';

export interface WebFactor {
  /** How it is enrolled; absent for backup codes, which come with the first enrollment. */
  enrollment?: FactorEnrollment;
  /** How a login answers it on the second-factor page. */
  secondFactor: SecondFactorStep;
}

/** Values of the fields a factor adds to the method picker (the Tessera Authenticator's phone). */
export type ChoiceValues = Readonly<Record<string, string>>;

export interface FactorEnrollment {
  kind: AuthenticatorMethod;
  /** The method picker's entry. */
  label: string;
  description: string;
  /** Fields the picker shows under the choices while this method is chosen, and their first values; `errors` by field name. */
  ChoiceFields?: ComponentType<{ values: ChoiceValues; onChange(values: ChoiceValues): void; errors: Readonly<Record<string, string>> }>;
  initialValues?(): ChoiceValues;
  /**
   * The picker's "Continue": starts the enrollment (on the server where it has a server
   * step) and resolves to its setup screen, or to the words for a field to correct (shown at
   * that field). A refusal of the server is thrown as an ApiError, which the picker shows, at
   * the field when the error names one (`field` in its body).
   */
  start(values: ChoiceValues): Promise<EnrollmentSetup | FieldProblem>;
  /**
   * The setup screen again for an enrollment of this method the server says is under way in
   * this login (GET /mfa/enrollment/state: after a reload, in a second tab, or in a browser
   * opened again), or null when there is nothing to continue and the picker is shown.
   */
  resume?(state: EnrollmentState): EnrollmentSetup | null;
}

/** What is wrong with one of a factor's fields. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** A started enrollment: its setup screen, and what it adds once confirmed. */
export interface EnrollmentSetup {
  added: AddedKind;
  render(props: SetupProps): ReactNode;
}

export interface SetupProps {
  info: EnrollmentInfo;
  /** Confirmed; a first enrollment brings the backup codes to show. */
  onConfirmed(backupCodes: string[] | null | undefined): void;
  /** NO_SEAT at confirmation: the last licence went to someone else meanwhile. */
  onNoSeat(message: string): void;
  /** The pending login is gone (401): the caller sends the user to sign in again. */
  onSignedOut?(): void;
  /**
   * The enrollment is no longer this screen's to finish (another tab finished the login, or
   * it is gone): the shell asks the server where the enrollment stands and continues there.
   */
  onStale?(): void;
  onCancel?(): void;
}

export interface SecondFactorStep {
  method: SecondFactorMethod;
  Form: ComponentType<StepFormProps>;
  /**
   * How the page offers this method while another one is shown: a button, which also starts
   * it at once (one click, not two), or a link to its form.
   */
  offer: { label: string; style: 'button' | 'link' };
}

export interface StepFormProps {
  challenge: MfaChallenge;
  /** Chosen with the offer's button: start at once (a click is the user gesture a key needs). */
  startNow: boolean;
  onVerified(): void;
  /** The pending login is gone (401): sign in again. */
  onExpired(): void;
}

/** Seconds left of the second-factor lock the page was opened under (0: not locked). */
export function secondsLocked(challenge: MfaChallenge): number {
  return challenge.lockedUntil === null ? 0 : (challenge.lockedUntil - Date.now()) / 1000;
}
