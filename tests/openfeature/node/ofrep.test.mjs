// The stock OpenFeature Node server SDK with its OFREP provider, against a live PackEdge.
// Started by tests/openfeature/test_node_sdk.py, which seeds the server (tests/openfeature/live.py)
// and passes the base URL, the SDK keys and the rollout split the server's own bucketing gives.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { ErrorCode, OpenFeature, StandardResolutionReasons } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';

const BASE_URL = process.env.OFREP_BASE_URL;
const SDK_KEY = process.env.OFREP_SDK_KEY;
const REVOKED_SDK_KEY = process.env.OFREP_REVOKED_SDK_KEY;
const EXPECTED_ROLLOUT = JSON.parse(process.env.OFREP_EXPECTED_ROLLOUT ?? '{}');

let client;
let revoked;

before(async () => {
  assert.ok(BASE_URL && SDK_KEY && REVOKED_SDK_KEY, 'run by tests/openfeature/test_node_sdk.py');
  await OpenFeature.setProviderAndWait(
    'packedge',
    new OFREPProvider({ baseUrl: BASE_URL, headers: [['Authorization', `Bearer ${SDK_KEY}`]] }),
  );
  // The other header OFREP names for the key (the spec's ApiKeyAuth), with a revoked one.
  await OpenFeature.setProviderAndWait(
    'revoked',
    new OFREPProvider({ baseUrl: BASE_URL, headers: [['X-API-Key', REVOKED_SDK_KEY]] }),
  );
  client = OpenFeature.getClient('packedge');
  revoked = OpenFeature.getClient('revoked');
});

after(async () => {
  await OpenFeature.close();
});

test('targeting: a rule on a context attribute serves its variant, others the default variant', async () => {
  const pro = await client.getBooleanDetails('new-checkout', false, { targetingKey: 'u-1', plan: 'pro' });
  assert.deepEqual([pro.value, pro.variant, pro.reason], [true, 'on', StandardResolutionReasons.TARGETING_MATCH]);
  const team = await client.getBooleanValue('new-checkout', false, { targetingKey: 'u-2', plan: 'team' });
  assert.equal(team, true);
  const free = await client.getBooleanDetails('new-checkout', true, { targetingKey: 'u-3', plan: 'free' });
  assert.deepEqual([free.value, free.variant, free.reason], [false, 'off', StandardResolutionReasons.DEFAULT]);
  assert.equal(free.errorCode, undefined);
});

test('percentage rollout: each targeting key gets the variant the server buckets it into', async () => {
  const keys = Object.keys(EXPECTED_ROLLOUT);
  assert.equal(keys.length, 40);
  const served = {};
  for (const key of keys) {
    const details = await client.getStringDetails('checkout-theme', 'none', { targetingKey: key });
    assert.equal(details.reason, StandardResolutionReasons.SPLIT, key);
    served[key] = details.value;
  }
  assert.deepEqual(served, EXPECTED_ROLLOUT);
  // Stable: asking again gives the same answer.
  assert.equal(await client.getStringValue('checkout-theme', 'none', { targetingKey: keys[0] }), served[keys[0]]);
  // A rollout needs a targeting key: the caller's default with TARGETING_KEY_MISSING.
  const anonymous = await client.getStringDetails('checkout-theme', 'none', {});
  assert.deepEqual(
    [anonymous.value, anonymous.reason, anonymous.errorCode],
    ['none', StandardResolutionReasons.ERROR, ErrorCode.TARGETING_KEY_MISSING],
  );
});

test('every type: boolean, string, integer, float and object values arrive typed', async () => {
  const context = { targetingKey: 'u-1' };
  const seats = await client.getNumberDetails('max-seats', 0, context);
  assert.deepEqual([seats.value, seats.variant, seats.reason], [50, 'many', StandardResolutionReasons.STATIC]);
  assert.ok(Number.isInteger(seats.value));
  const discount = await client.getNumberDetails('discount', -1, context);
  assert.deepEqual([discount.value, discount.variant], [12.5, 'some']);
  const limits = await client.getObjectDetails('limits', {}, context);
  assert.deepEqual([limits.value, limits.variant], [{ projects: 100, sso: true }, 'big']);
  assert.equal(typeof (await client.getStringValue('checkout-theme', '', context)), 'string');
  assert.equal(typeof (await client.getBooleanValue('new-checkout', true, context)), 'boolean');
});

test('a value of another type than asked for: TYPE_MISMATCH and the caller default', async () => {
  const asBoolean = await client.getBooleanDetails('max-seats', false, { targetingKey: 'u-1' });
  assert.deepEqual(
    [asBoolean.value, asBoolean.reason, asBoolean.errorCode],
    [false, StandardResolutionReasons.ERROR, ErrorCode.TYPE_MISMATCH],
  );
});

test('an unknown flag: FLAG_NOT_FOUND and the caller default', async () => {
  const unknown = await client.getBooleanDetails('no-such-flag', true, { targetingKey: 'u-1' });
  assert.deepEqual(
    [unknown.value, unknown.reason, unknown.errorCode],
    [true, StandardResolutionReasons.ERROR, ErrorCode.FLAG_NOT_FOUND],
  );
  const withSlash = await client.getStringDetails('a/b', 'fallback', { targetingKey: 'u-1' });
  assert.deepEqual([withSlash.value, withSlash.errorCode], ['fallback', ErrorCode.FLAG_NOT_FOUND]);
});

test('a disabled flag: its off variant with reason DISABLED, not the caller default', async () => {
  const off = await client.getStringDetails('search-engine', 'caller-default', { targetingKey: 'u-1' });
  assert.deepEqual(
    [off.value, off.variant, off.reason, off.errorCode],
    ['legacy-search', 'legacy', StandardResolutionReasons.DISABLED, undefined],
  );
});

test('a revoked key: an error and the caller default for every flag and type', async () => {
  const context = { targetingKey: 'u-1', plan: 'pro' };
  const flag = await revoked.getBooleanDetails('new-checkout', false, context);
  // The provider throws its OFREPForbiddenError on the 403, which the SDK reports as GENERAL.
  assert.deepEqual(
    [flag.value, flag.reason, flag.errorCode],
    [false, StandardResolutionReasons.ERROR, ErrorCode.GENERAL],
  );
  assert.equal(await revoked.getStringValue('search-engine', 'caller-default', context), 'caller-default');
  assert.equal(await revoked.getNumberValue('max-seats', -1, context), -1);
  assert.deepEqual(await revoked.getObjectValue('limits', { none: true }, context), { none: true });
});
