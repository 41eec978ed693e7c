import { useId, useState } from 'react';
import { api, type SubscriptionFeature } from '../api';
import { ErrorAlert, StatusNotice } from '../components/Notice';
import { Card, Page } from '../components/Page';
import { FirmAdminNav } from '../components/SectionNav';
import { Link } from '../router';
import { useAction, useApiGet } from '../useApi';
import { SUBSCRIPTION_STATE_LABELS } from '../words';

/** Where an active feature is managed (A.1: "click on MFA in the Subscriptions module"). */
const FEATURE_PAGES: Record<string, string> = { mfa: '/admin/mfa' };

/** Setup > Subscriptions (reference A.1): the features a firm can subscribe to, by category. */
export function AdminSubscriptions() {
  const catalogue = useApiGet('/admin/subscriptions');
  const [notice, setNotice] = useState<string | null>(null);
  const subscribe = useAction();

  async function request(feature: SubscriptionFeature) {
    setNotice(null);
    const result = await subscribe.run(() => api.post(`/admin/subscriptions/${feature.key}`));
    if (result.ok) setNotice('Subscription requested. The accounts team will get in touch to activate it.');
    // Reload after a refusal too: a double-submit means the state already moved on.
    catalogue.reload();
  }

  return (
    <Page title="Subscriptions" wide>
      <FirmAdminNav />
      <StatusNotice message={notice} />
      <ErrorAlert message={subscribe.error ?? catalogue.error} />
      {catalogue.data === undefined && !catalogue.error ? <p className="muted">Loading…</p> : null}
      {catalogue.data?.categories.map((category) => (
        <Card key={category.name} title={category.name}>
          <ul className="feature-list">
            {category.features.map((feature) => (
              <FeatureCard
                key={feature.key}
                feature={feature}
                pending={subscribe.pending}
                onSubscribe={() => void request(feature)}
              />
            ))}
          </ul>
        </Card>
      ))}
    </Page>
  );
}

function FeatureCard({
  feature,
  pending,
  onSubscribe,
}: {
  feature: SubscriptionFeature;
  pending: boolean;
  onSubscribe(): void;
}) {
  const nameId = useId();
  const page = FEATURE_PAGES[feature.key];
  const canSubscribe = feature.state === 'not_subscribed' || feature.state === 'cancelled';
  return (
    <li className="feature">
      <h3 id={nameId}>{page ? <Link to={page}>{feature.name}</Link> : feature.name}</h3>
      <p className="muted">{feature.description}</p>
      <p className="feature-state">
        <span className={`state state-${feature.state}`}>{SUBSCRIPTION_STATE_LABELS[feature.state]}</span>
      </p>
      <div className="form-actions">
        {canSubscribe ? (
          <button type="button" disabled={pending} aria-describedby={nameId} onClick={onSubscribe}>
            Subscribe
          </button>
        ) : null}
        {/* A.1: "click on MFA in the Subscriptions module" to configure it; the MFA page also says where a request stands. */}
        {page && feature.state !== 'not_subscribed' ? (
          <Link to={page} className={`button-link${canSubscribe ? ' button-secondary' : ''}`}>
            {feature.key === 'mfa' ? 'Open MFA' : `Open ${feature.name}`}
          </Link>
        ) : null}
      </div>
    </li>
  );
}
