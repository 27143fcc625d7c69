// The developer story with stripe-node, Stripe's official Node SDK, pointed at Relink.
//
//   node developer_story.js api       list, errors, idempotent retry (prints JSON facts)
//   node developer_story.js webhook   constructEvent on a delivered event (prints JSON facts)
//
// Configuration comes from the environment: RELINK_URL, RELINK_KEY, and for `api`
// WEBHOOK_URL; for `webhook` WEBHOOK_SECRET, WEBHOOK_PAYLOAD and WEBHOOK_SIGNATURE. The test
// (tests/node/test_stripe_node.py) asserts on what this prints; the script only records.
'use strict';

const Stripe = require('stripe');

const ACCOUNTS = 12;

function client(key) {
  const url = new URL(process.env.RELINK_URL);
  return new Stripe(key, {
    host: url.hostname,
    port: Number(url.port),
    protocol: url.protocol.replace(':', ''),
    // As in production code: the SDK retries what it may (409, connection errors) and
    // must not need to retry a 400.
    maxNetworkRetries: 2,
  });
}

function describe(error) {
  return {
    class: error.constructor.name,
    type: error.type,
    code: error.code ?? null,
    param: error.param ?? null,
    statusCode: error.statusCode ?? null,
    isStripeError: error instanceof Stripe.errors.StripeError,
  };
}

async function caught(promise) {
  try {
    await promise;
  } catch (error) {
    return describe(error);
  }
  return null;
}

async function api() {
  const stripe = client(process.env.RELINK_KEY);
  const endpoint = await stripe.webhookEndpoints.create({
    url: process.env.WEBHOOK_URL,
    enabled_events: ['financial_connections.account.created'],
  });
  const customer = await stripe.customers.create({ email: 'ada@example.com' });
  const created = [];
  for (let i = 0; i < ACCOUNTS; i += 1) {
    const account = await stripe.rawRequest('POST', '/v1/test_helpers/financial_connections/accounts', {
      institution: 'fcinst_bank_non_oauth',
      account_holder: { type: 'customer', customer: customer.id },
    });
    created.push(account.id);
  }

  // Auto-pagination, both ways stripe-node offers it, five at a time.
  const listed = [];
  for await (const account of stripe.financialConnections.accounts.list({
    account_holder: { customer: customer.id },
    limit: 5,
  })) {
    listed.push(account.id);
  }
  const asArray = await stripe.financialConnections.accounts
    .list({ account_holder: { customer: customer.id }, limit: 5 })
    .autoPagingToArray({ limit: 100 });

  // Errors: the classes and codes a Node integration branches on.
  const errors = {
    missing: await caught(stripe.financialConnections.accounts.retrieve('fca_doesnotexist')),
    parameterMissing: await caught(
      stripe.financialConnections.sessions.create({
        account_holder: { type: 'customer', customer: customer.id },
      }),
    ),
    milliseconds: await caught(stripe.events.list({ created: { gte: Date.now() } })),
    authentication: await caught(client('sk_test_not_a_key').customers.list()),
  };

  // An idempotent retry: the same key and body give the same object; another body with
  // that key is refused.
  const key = `story-${customer.id}`;
  const first = await stripe.customers.create({ email: 'grace@example.com' }, { idempotencyKey: key });
  const retried = await stripe.customers.create({ email: 'grace@example.com' }, { idempotencyKey: key });
  errors.idempotencyReused = await caught(
    stripe.customers.create({ email: 'someone-else@example.com' }, { idempotencyKey: key }),
  );
  const graces = await stripe.customers.list({ email: 'grace@example.com', limit: 100 });

  return {
    endpoint: { id: endpoint.id, secret: endpoint.secret },
    customer: customer.id,
    created,
    listed,
    asArray: asArray.map((account) => account.id),
    errors,
    idempotency: {
      first: first.id,
      retried: retried.id,
      replayed: retried.lastResponse.headers['idempotent-replayed'] ?? null,
      customersWithThatEmail: graces.data.length,
    },
  };
}

async function webhook() {
  const stripe = client(process.env.RELINK_KEY);
  const payload = process.env.WEBHOOK_PAYLOAD;
  const signature = process.env.WEBHOOK_SIGNATURE;
  const secret = process.env.WEBHOOK_SECRET;
  const event = stripe.webhooks.constructEvent(payload, signature, secret);
  const tampered = payload.replace('"livemode":false', '"livemode":true');
  let refused = null;
  try {
    stripe.webhooks.constructEvent(tampered, signature, secret);
  } catch (error) {
    refused = { class: error.constructor.name, type: error.type };
  }
  return {
    event: { id: event.id, type: event.type, object: event.data.object.id },
    tamperedChanged: tampered !== payload,
    tampered: refused,
  };
}

const phases = { api, webhook };
const phase = phases[process.argv[2]];
if (phase === undefined) {
  console.error(`usage: node developer_story.js ${Object.keys(phases).join('|')}`);
  process.exit(2);
}
phase().then(
  (facts) => process.stdout.write(`${JSON.stringify(facts)}\n`),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
