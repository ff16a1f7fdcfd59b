// The synthesized template against the deployment spec (the same checks infra/template.yaml
// answers to), on dummy binaries so no Rust build is needed.

import { after, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { DEFAULTS, Hookline, INDEXES, RETRY_SCHEDULE_PATTERN, retryScheduleProblem } from '../lib/hookline';
import { HooklineStack } from '../lib/stack';

// CDK's built-in template validation costs about a second per synth here and tripled the run;
// `cdk synth` (and cfn-lint in infra/check.sh) still validates the real template.
process.env.CDK_VALIDATION ??= 'false';

const FEATURE_FLAGS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf-8')).context;
const BINS = ['api', 'fanout', 'delivery', 'notify'];
const FUNCTIONS = ['ApiFunction', 'FanoutFunction', 'DeliveryFunction', 'SlowDeliveryFunction', 'NotifyFunction'];
/** Each function's name in its log group (`/aws/lambda/<stack>-<name>`) and alarms. */
const NAMES: Record<string, string> = {
  ApiFunction: 'api',
  FanoutFunction: 'fanout',
  DeliveryFunction: 'delivery',
  SlowDeliveryFunction: 'delivery-slow',
  NotifyFunction: 'notify',
};
const DELIVERY_FUNCTIONS = ['DeliveryFunction', 'SlowDeliveryFunction'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-cdk-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A binaries directory with a `<bin>/bootstrap` per function: plain text, or an ELF header. */
function binaries(name: string, elfMachine?: number): string {
  const dir = path.join(tmp, name);
  for (const bin of BINS) {
    fs.mkdirSync(path.join(dir, bin), { recursive: true });
    let content: Buffer = Buffer.from('not a real binary\n');
    if (elfMachine !== undefined) {
      content = Buffer.alloc(64);
      content.write('\x7fELF', 0, 'latin1');
      content.writeUInt16LE(elfMachine, 18);
    }
    fs.writeFileSync(path.join(dir, bin, 'bootstrap'), content, { mode: 0o755 });
  }
  return dir;
}
const dummy = binaries('dummy');

function stackWith(context: Record<string, unknown> = {}): HooklineStack {
  const app = new App({ context: { ...FEATURE_FLAGS, binariesDir: dummy, ...context } });
  return new HooklineStack(app, 'HooklineStack', { stackName: 'hookline' });
}
const synth = (context: Record<string, unknown> = {}) => Template.fromStack(stackWith(context));

const t = synth();
const resources = (type: string) => t.findResources(type);
const fn = (id: string) => t.toJSON().Resources[id].Properties;
const ref = (id: string) => ({ Ref: id });
const arn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const logGroup = (functionId: string) => functionId.replace('Function', 'LogGroup');
/** `${AWS::StackName}` between two strings, as CloudFormation receives it. */
const withStackName = (before: string, after: string) => ({
  'Fn::Join': ['', [...(before ? [before] : []), ref('AWS::StackName'), after]],
});

/** Every statement of every policy attached to the role of `functionId`. */
function statements(template: Template, functionId: string): any[] {
  const res = template.toJSON().Resources;
  const role = res[functionId].Properties.Role['Fn::GetAtt'][0];
  const out: any[] = [];
  for (const r of Object.values<any>(res)) {
    if (r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === role)) {
      out.push(...r.Properties.PolicyDocument.Statement);
    }
  }
  for (const p of res[role].Properties.Policies ?? []) out.push(...p.PolicyDocument.Statement);
  return out;
}
const list = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);
/** The resources `functionId` may use `action` on. */
function resourcesFor(template: Template, functionId: string, action: string): unknown[] {
  return statements(template, functionId)
    .filter((s) => s.Effect === 'Allow' && list(s.Action).includes(action))
    .flatMap((s) => list(s.Resource));
}

describe('resource counts', () => {
  test('match the spec', () => {
    const expected: Record<string, number> = {
      'AWS::Lambda::Function': 5,
      'AWS::Lambda::EventSourceMapping': 4,
      'AWS::SQS::Queue': 3,
      'AWS::DynamoDB::Table': 1,
      'AWS::SNS::Topic': 1,
      'AWS::SNS::Subscription': 1,
      'AWS::CloudWatch::Alarm': 10,
      'AWS::Logs::LogGroup': 5,
      'AWS::SecretsManager::Secret': 1,
      'AWS::ApiGatewayV2::Api': 1,
      'AWS::KMS::Key': 1,
      'AWS::Events::Rule': 1,
      'AWS::Lambda::Permission': 2,
    };
    for (const [type, count] of Object.entries(expected)) t.resourceCountIs(type, count);
  });

  test('no helper custom resources (log retention, bucket deployments)', () => {
    const types = new Set(Object.values<any>(t.toJSON().Resources).map((r) => r.Type));
    assert.ok(![...types].some((x) => x.startsWith('Custom::') || x === 'AWS::CloudFormation::CustomResource'), [...types].join());
  });
});

describe('functions', () => {
  test('run the bootstrap on provided.al2023, arm64 by default', () => {
    for (const id of FUNCTIONS) {
      const p = fn(id);
      assert.equal(p.Runtime, 'provided.al2023', id);
      assert.equal(p.Handler, 'bootstrap', id);
      assert.deepEqual(p.Architectures, ['arm64'], id);
    }
  });

  test('run on x86_64 when the architecture says so', () => {
    const x86 = synth({ architecture: 'x86_64' }).toJSON().Resources;
    for (const id of FUNCTIONS) assert.deepEqual(x86[id].Properties.Architectures, ['x86_64'], id);
  });

  test('have the timeouts, memory and descriptions of the spec', () => {
    const sizes: Record<string, [number, number, string]> = {
      ApiFunction: [29, 256, 'api'],
      FanoutFunction: [60, 256, 'fanout'],
      DeliveryFunction: [30, 256, 'delivery'],
      SlowDeliveryFunction: [30, 256, 'delivery'],
      NotifyFunction: [30, 128, 'notify'],
    };
    for (const [id, [timeout, memory, bin]] of Object.entries(sizes)) {
      assert.equal(fn(id).Timeout, timeout, id);
      assert.equal(fn(id).MemorySize, memory, id);
      assert.match(fn(id).Description, new RegExp(`^Hookline ${bin}: `), id);
    }
  });

  test('log JSON to their own log group, which keeps logs 30 days', () => {
    for (const id of FUNCTIONS) {
      assert.deepEqual(
        fn(id).LoggingConfig,
        { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN', LogGroup: ref(logGroup(id)) },
        id,
      );
      assert.deepEqual(t.toJSON().Resources[logGroup(id)].Properties, {
        LogGroupName: withStackName('/aws/lambda/', `-${NAMES[id]}`),
        RetentionInDays: 30,
      });
    }
  });

  test('take the log level and retention from the settings', () => {
    const res = synth({ logLevel: 'DEBUG', logRetentionDays: '7' }).toJSON().Resources;
    assert.equal(res.ApiFunction.Properties.LoggingConfig.ApplicationLogLevel, 'DEBUG');
    assert.equal(res.ApiLogGroup.Properties.RetentionInDays, 7);
  });

  test('get the environment of the spec', () => {
    const common = {
      HOOKLINE_TABLE: ref('HooklineTable'),
      HOOKLINE_QUEUE_URL: ref('DeliveryQueue'),
      HOOKLINE_DLQ_URL: ref('DeadLetterQueue'),
      HOOKLINE_RETRY_SCHEDULE: '5s,5m,30m,2h,5h,10h,10h',
      HOOKLINE_REQUIRE_HTTPS: 'true',
      HOOKLINE_DELIVERY_TIMEOUT_MS: '5000',
      HOOKLINE_RETENTION_DAYS: '30',
      HOOKLINE_CIRCUIT_FAILURES: '5',
      HOOKLINE_CIRCUIT_DISABLE_AFTER_SECS: '259200',
    };
    assert.deepEqual(fn('ApiFunction').Environment.Variables, {
      ...common,
      HOOKLINE_ADMIN_KEY_SECRET_ARN: ref('AdminKeySecret'),
      HOOKLINE_STRICT_EVENT_TYPES: 'false',
    });
    assert.deepEqual(fn('FanoutFunction').Environment.Variables, common);
    const delivery = { ...common, HOOKLINE_SLOW_QUEUE_URL: ref('SlowDeliveryQueue'), HOOKLINE_MAX_RECEIVE_COUNT: '11' };
    assert.deepEqual(fn('DeliveryFunction').Environment.Variables, { ...delivery, HOOKLINE_LANE: 'main' });
    assert.deepEqual(fn('SlowDeliveryFunction').Environment.Variables, { ...delivery, HOOKLINE_LANE: 'slow' });
    assert.deepEqual(fn('NotifyFunction').Environment.Variables, { HOOKLINE_NOTIFY_TOPIC_ARN: ref('AlertTopic') });
  });

  test('take the environment settings from the context', () => {
    const env = synth({
      retrySchedule: '1s,2s',
      requireHttps: 'false',
      deliveryTimeoutMs: '800',
      retentionDays: '7',
    }).toJSON().Resources.DeliveryFunction.Properties.Environment.Variables;
    assert.equal(env.HOOKLINE_RETRY_SCHEDULE, '1s,2s');
    assert.equal(env.HOOKLINE_REQUIRE_HTTPS, 'false');
    assert.equal(env.HOOKLINE_DELIVERY_TIMEOUT_MS, '800');
    assert.equal(env.HOOKLINE_RETENTION_DAYS, '7');
    const slowEnv = synth({ retrySchedule: '1s,2s', requireHttps: 'false' }).toJSON().Resources.SlowDeliveryFunction
      .Properties.Environment.Variables;
    assert.equal(slowEnv.HOOKLINE_RETRY_SCHEDULE, '1s,2s');
    assert.equal(slowEnv.HOOKLINE_REQUIRE_HTTPS, 'false');
    const breaker = synth({ circuitFailures: '3', circuitDisableAfterSecs: '86400' }).toJSON().Resources
      .DeliveryFunction.Properties.Environment.Variables;
    assert.equal(breaker.HOOKLINE_CIRCUIT_FAILURES, '3');
    assert.equal(breaker.HOOKLINE_CIRCUIT_DISABLE_AFTER_SECS, '86400');
    assert.throws(() => stackWith({ circuitFailures: '0' }), /circuitFailures/);
    const api = synth({ strictEventTypes: 'true' }).toJSON().Resources.ApiFunction.Properties;
    assert.equal(api.Environment.Variables.HOOKLINE_STRICT_EVENT_TYPES, 'true');
  });
});

describe('data', () => {
  test('the table: keys, indexes, stream, TTL, PITR, encryption, retained', () => {
    t.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: Match.arrayWith(
          ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'gsi3sk'].map((n) => ({
            AttributeName: n,
            AttributeType: 'S',
          })),
        ),
        GlobalSecondaryIndexes: ['gsi1', 'gsi2', 'gsi3'].map((g) => ({
          IndexName: g,
          KeySchema: [
            { AttributeName: `${g}pk`, KeyType: 'HASH' },
            { AttributeName: `${g}sk`, KeyType: 'RANGE' },
          ],
          Projection:
            g === 'gsi3'
              ? { ProjectionType: 'KEYS_ONLY' }
              : {
                  ProjectionType: 'INCLUDE',
                  NonKeyAttributes: ['body', 'id', 'tenant_id', 'name', 'hash', 'created_at', 'revoked_at'],
                },
        })),
        StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
        TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        SSESpecification: { SSEEnabled: true },
      },
    });
  });

  test('the table is on demand by default: no provisioned throughput, no auto scaling', () => {
    const table = t.toJSON().Resources.HooklineTable.Properties;
    assert.equal(table.BillingMode, 'PAY_PER_REQUEST');
    assert.equal(table.ProvisionedThroughput, undefined);
    assert.deepEqual(
      table.GlobalSecondaryIndexes.map((g: any) => [g.IndexName, g.ProvisionedThroughput]),
      INDEXES.map((g) => [g, undefined]),
    );
    t.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 0);
    t.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 0);
    // Capacity settings change nothing on demand: the template is the default one.
    assert.deepEqual(synth({ tableCapacity: 'on-demand', tableMinWriteCapacity: '50' }).toJSON(), t.toJSON());
  });

  test('the delivery queue: visibility 180 s, 14 days, DLQ after 11 receives, encrypted', () => {
    assert.deepEqual(t.toJSON().Resources.DeliveryQueue.Properties, {
      QueueName: withStackName('', '-deliveries'),
      VisibilityTimeout: 180,
      MessageRetentionPeriod: 1209600,
      RedrivePolicy: { deadLetterTargetArn: arn('DeadLetterQueue'), maxReceiveCount: 11 },
      SqsManagedSseEnabled: true,
    });
  });

  test('the slow lane queue: the delivery queue\'s settings, into the same DLQ', () => {
    assert.deepEqual(t.toJSON().Resources.SlowDeliveryQueue.Properties, {
      QueueName: withStackName('', '-deliveries-slow'),
      VisibilityTimeout: 180,
      MessageRetentionPeriod: 1209600,
      RedrivePolicy: { deadLetterTargetArn: arn('DeadLetterQueue'), maxReceiveCount: 11 },
      SqsManagedSseEnabled: true,
    });
  });

  test('maxReceiveCount follows the setting, in the queue and in the delivery function only', () => {
    const res = synth({ maxReceiveCount: '14' }).toJSON().Resources;
    assert.equal(res.DeliveryQueue.Properties.RedrivePolicy.maxReceiveCount, 14);
    assert.equal(res.SlowDeliveryQueue.Properties.RedrivePolicy.maxReceiveCount, 14);
    assert.equal(res.DeliveryFunction.Properties.Environment.Variables.HOOKLINE_MAX_RECEIVE_COUNT, '14');
    assert.equal(res.SlowDeliveryFunction.Properties.Environment.Variables.HOOKLINE_MAX_RECEIVE_COUNT, '14');
    for (const id of ['ApiFunction', 'FanoutFunction', 'NotifyFunction']) {
      assert.equal(res[id].Properties.Environment.Variables.HOOKLINE_MAX_RECEIVE_COUNT, undefined, id);
    }
  });

  test('maxReceiveCount below attempts + 1 is refused (the delivery function would not start)', () => {
    // 2 waits: 3 attempts, so at least 4 receives.
    const q = synth({ retrySchedule: '1s,2s', maxReceiveCount: '4' }).toJSON().Resources.DeliveryQueue.Properties;
    assert.equal(q.RedrivePolicy.maxReceiveCount, 4);
    assert.throws(
      () => stackWith({ retrySchedule: '1s,2s', maxReceiveCount: '3' }),
      /maxReceiveCount 3 is below attempts \+ 1 = 4/,
    );
    // The default schedule makes 8 attempts.
    assert.throws(() => stackWith({ maxReceiveCount: '8' }), /maxReceiveCount 8 is below attempts \+ 1 = 9/);
    synth({ maxReceiveCount: '9' });
    // An empty schedule makes one attempt.
    synth({ retrySchedule: '', maxReceiveCount: '2' });
    assert.throws(() => stackWith({ retrySchedule: '', maxReceiveCount: '1' }), /below attempts \+ 1 = 2/);
  });

  test('the DLQ: 14 days, takes redrives from the two delivery queues only', () => {
    assert.deepEqual(t.toJSON().Resources.DeadLetterQueue.Properties, {
      QueueName: withStackName('', '-deliveries-dlq'),
      MessageRetentionPeriod: 1209600,
      RedriveAllowPolicy: {
        redrivePermission: 'byQueue',
        sourceQueueArns: [
          { 'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-deliveries' },
          { 'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-deliveries-slow' },
        ],
      },
      SqsManagedSseEnabled: true,
    });
  });

  test('the admin key is a generated secret, never a parameter', () => {
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true },
    });
    const params = Object.keys(t.toJSON().Parameters ?? {});
    assert.ok(!params.some((p) => /key|secret/i.test(p)), params.join());
  });

  test('the alert topic is encrypted with a key CloudWatch alarms of this account may use', () => {
    // Not alias/aws/sns: alarms cannot publish to a topic encrypted with the AWS managed key.
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: ref('AlertTopicKey') });
    t.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          {
            Sid: 'CloudWatchAlarmsPublishToTheTopic',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
            Resource: '*',
            Condition: {
              StringEquals: { 'aws:SourceAccount': ref('AWS::AccountId') },
              ArnLike: {
                'aws:SourceArn': { 'Fn::Sub': 'arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*' },
              },
            },
          },
        ]),
      },
    });
  });
});

describe('alert e-mail', () => {
  test('the subscription exists only under HasAlertEmail, empty by default', () => {
    const json = t.toJSON();
    assert.equal(json.Parameters.AlertEmail.Type, 'String');
    assert.equal(json.Parameters.AlertEmail.Default, '');
    assert.deepEqual(json.Conditions.HasAlertEmail, { 'Fn::Not': [{ 'Fn::Equals': [ref('AlertEmail'), ''] }] });
    assert.deepEqual(json.Resources.AlertEmailSubscription.Condition, 'HasAlertEmail');
    assert.deepEqual(json.Resources.AlertEmailSubscription.Properties, {
      Protocol: 'email',
      Endpoint: ref('AlertEmail'),
      TopicArn: ref('AlertTopic'),
    });
  });

  test('the context sets the default address', () => {
    const json = synth({ alertEmail: 'ops@example.com' }).toJSON();
    assert.equal(json.Parameters.AlertEmail.Default, 'ops@example.com');
  });

  test('the construct takes a literal address: a subscription without condition, or none', () => {
    const app = new App({ context: FEATURE_FLAGS });
    const withEmail = new Stack(app, 'WithEmail');
    new Hookline(withEmail, 'Hookline', { binariesDir: dummy, alertEmail: 'ops@example.com' });
    const withoutEmail = new Stack(app, 'WithoutEmail');
    new Hookline(withoutEmail, 'Hookline', { binariesDir: dummy });
    const subs = Template.fromStack(withEmail).findResources('AWS::SNS::Subscription');
    assert.equal(Object.keys(subs).length, 1);
    assert.equal(Object.values<any>(subs)[0].Condition, undefined);
    Template.fromStack(withoutEmail).resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('event sources', () => {
  const mapping = (functionId: string) =>
    Object.values<any>(resources('AWS::Lambda::EventSourceMapping')).find(
      (m) => m.Properties.FunctionName.Ref === functionId,
    ).Properties;
  const pattern = (m: any) => m.FilterCriteria.Filters.map((f: any) => JSON.parse(f.Pattern));

  test('fanout reads new OUTBOX items from the stream and never drops one', () => {
    const m = mapping('FanoutFunction');
    assert.deepEqual(m.EventSourceArn, { 'Fn::GetAtt': ['HooklineTable', 'StreamArn'] });
    assert.equal(m.StartingPosition, 'TRIM_HORIZON');
    assert.equal(m.BatchSize, 100);
    assert.equal(m.MaximumBatchingWindowInSeconds, 1);
    assert.equal(m.BisectBatchOnFunctionError, true);
    assert.equal(m.MaximumRetryAttempts, -1);
    assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.deepEqual(pattern(m), [{ eventName: ['INSERT'], dynamodb: { NewImage: { outbox: { S: [{ prefix: 'OUTBOX#' }] } } } }]);
  });

  test('notify reads new hookline.delivery.failed and hookline.endpoint.* events from the stream', () => {
    const m = mapping('NotifyFunction');
    assert.deepEqual(m.EventSourceArn, { 'Fn::GetAtt': ['HooklineTable', 'StreamArn'] });
    assert.equal(m.StartingPosition, 'TRIM_HORIZON');
    assert.equal(m.BatchSize, 100);
    assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.deepEqual(pattern(m), [
      {
        eventName: ['INSERT'],
        dynamodb: {
          NewImage: {
            pk: { S: [{ prefix: 'EVT#' }] },
            event_type: { S: ['hookline.delivery.failed', { prefix: 'hookline.endpoint.' }] },
          },
        },
      },
    ]);
  });

  test('delivery takes batches of 10 from the queue, at most 20 at once', () => {
    const m = mapping('DeliveryFunction');
    assert.deepEqual(m.EventSourceArn, arn('DeliveryQueue'));
    assert.equal(m.BatchSize, 10);
    assert.equal(m.MaximumBatchingWindowInSeconds, 0);
    assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.deepEqual(m.ScalingConfig, { MaximumConcurrency: 20 });
  });

  test('deliveryMaxConcurrency sets the scaling limit', () => {
    const m = Object.values<any>(
      synth({ deliveryMaxConcurrency: '50' }).findResources('AWS::Lambda::EventSourceMapping'),
    ).find((x) => x.Properties.FunctionName.Ref === 'DeliveryFunction');
    assert.deepEqual(m.Properties.ScalingConfig, { MaximumConcurrency: 50 });
  });

  test('the slow lane takes batches of 10 from its own queue, at most 5 at once', () => {
    const m = mapping('SlowDeliveryFunction');
    assert.deepEqual(m.EventSourceArn, arn('SlowDeliveryQueue'));
    assert.equal(m.BatchSize, 10);
    assert.equal(m.MaximumBatchingWindowInSeconds, 0);
    assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.deepEqual(m.ScalingConfig, { MaximumConcurrency: 5 });
    // one mapping per delivery queue
    const sources = Object.values<any>(resources('AWS::Lambda::EventSourceMapping'))
      .filter((x) => DELIVERY_FUNCTIONS.includes(x.Properties.FunctionName.Ref))
      .map((x) => [x.Properties.FunctionName.Ref, x.Properties.EventSourceArn['Fn::GetAtt'][0]]);
    assert.deepEqual(sources.sort(), [
      ['DeliveryFunction', 'DeliveryQueue'],
      ['SlowDeliveryFunction', 'SlowDeliveryQueue'],
    ]);
  });

  test('slowLaneMaxConcurrency sets the slow lane\'s scaling limit only', () => {
    const esms = Object.values<any>(synth({ slowLaneMaxConcurrency: '8' }).findResources('AWS::Lambda::EventSourceMapping'));
    const of = (id: string) => esms.find((x) => x.Properties.FunctionName.Ref === id).Properties;
    assert.deepEqual(of('SlowDeliveryFunction').ScalingConfig, { MaximumConcurrency: 8 });
    assert.deepEqual(of('DeliveryFunction').ScalingConfig, { MaximumConcurrency: 20 });
    const app = new App({ context: FEATURE_FLAGS });
    const stack = new Stack(app, 'Construct');
    new Hookline(stack, 'Hookline', { binariesDir: dummy, slowLaneMaxConcurrency: 12 });
    const viaProps = Object.values<any>(Template.fromStack(stack).findResources('AWS::Lambda::EventSourceMapping')).find(
      (x) => x.Properties.EventSourceArn['Fn::GetAtt'][0].startsWith('HooklineSlowDeliveryQueue'),
    );
    assert.deepEqual(viaProps.Properties.ScalingConfig, { MaximumConcurrency: 12 });
  });
});

describe('outbox sweep', () => {
  test('an enabled rule invokes fanout every 5 minutes with {"sweep": true}, under SAM\'s logical id', () => {
    const rule = t.toJSON().Resources.FanoutFunctionSweep;
    assert.equal(rule.Type, 'AWS::Events::Rule');
    assert.equal(rule.Properties.ScheduleExpression, 'rate(5 minutes)');
    assert.equal(rule.Properties.State, 'ENABLED');
    assert.equal(rule.Properties.EventPattern, undefined);
    assert.equal(rule.Properties.Targets.length, 1);
    const [target] = rule.Properties.Targets;
    assert.deepEqual(target.Arn, arn('FanoutFunction'));
    assert.equal(target.Id, 'FanoutFunctionSweepLambdaTarget');
    assert.deepEqual(JSON.parse(target.Input), { sweep: true });
  });

  test('EventBridge may invoke fanout from this rule only (FanoutFunctionSweepPermission)', () => {
    const perms = Object.entries<any>(resources('AWS::Lambda::Permission')).filter(
      ([, r]) => r.Properties.Principal === 'events.amazonaws.com',
    );
    assert.deepEqual(
      perms.map(([id]) => id),
      ['FanoutFunctionSweepPermission'],
    );
    assert.deepEqual(perms[0][1].Properties, {
      Action: 'lambda:InvokeFunction',
      FunctionName: arn('FanoutFunction'),
      Principal: 'events.amazonaws.com',
      SourceArn: arn('FanoutFunctionSweep'),
    });
  });

  test('no other function is scheduled', () => {
    for (const r of Object.values<any>(resources('AWS::Events::Rule'))) {
      for (const target of r.Properties.Targets) assert.deepEqual(target.Arn, arn('FanoutFunction'));
    }
  });
});

describe('HTTP API', () => {
  test('one $default route to the api function, payload 2.0, throttled default stage', () => {
    t.resourceCountIs('AWS::ApiGatewayV2::Route', 1);
    t.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default' });
    t.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: arn('ApiFunction'),
      PayloadFormatVersion: '2.0',
    });
    t.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingBurstLimit: 500, ThrottlingRateLimit: 1000 },
    });
  });
});

describe('alarms', () => {
  const alarms = t.toJSON().Resources;
  const props = (id: string) => alarms[id].Properties;

  test('ten, named after the stack, each notifying the alert topic on alarm and on recovery', () => {
    const all = resources('AWS::CloudWatch::Alarm');
    assert.deepEqual(
      Object.values<any>(all).map((a) => a.Properties.AlarmName['Fn::Join'][1][1]).sort(),
      [
        '-api-errors',
        '-delivery-errors',
        '-delivery-slow-errors',
        '-dlq-depth',
        '-fanout-errors',
        '-fanout-iterator-age',
        '-notify-errors',
        '-notify-iterator-age',
        '-queue-age',
        '-slow-queue-age',
      ],
    );
    for (const a of Object.values<any>(all)) {
      assert.deepEqual(a.Properties.AlarmName, withStackName('', a.Properties.AlarmName['Fn::Join'][1][1]));
    }
    for (const [id, a] of Object.entries<any>(all)) {
      assert.deepEqual(a.Properties.AlarmActions, [ref('AlertTopic')], id);
      assert.deepEqual(a.Properties.OKActions, [ref('AlertTopic')], id);
      assert.equal(a.Properties.TreatMissingData, 'notBreaching', id);
    }
  });

  test('DLQ depth: any visible message', () => {
    assert.deepEqual(
      { ...props('DlqDepthAlarm'), AlarmActions: undefined, OKActions: undefined, AlarmDescription: undefined, AlarmName: undefined },
      {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DeadLetterQueue', 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: undefined,
        OKActions: undefined,
        AlarmDescription: undefined,
        AlarmName: undefined,
      },
    );
  });

  test('queue age: oldest job over an hour', () => {
    const a = props('QueueAgeAlarm');
    assert.equal(a.Namespace, 'AWS/SQS');
    assert.equal(a.MetricName, 'ApproximateAgeOfOldestMessage');
    assert.deepEqual(a.Dimensions, [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['DeliveryQueue', 'QueueName'] } }]);
    assert.equal(a.Statistic, 'Maximum');
    assert.equal(a.Period, 300);
    assert.equal(a.Threshold, 3600);
    assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
    assert.equal(a.EvaluationPeriods, 1);
    const custom = synth({ queueAgeAlarmSeconds: '7200' }).toJSON().Resources.QueueAgeAlarm.Properties;
    assert.equal(custom.Threshold, 7200);
  });

  test('slow lane queue age: the same alarm on the slow lane\'s queue', () => {
    const a = props('SlowQueueAgeAlarm');
    assert.deepEqual(a.AlarmName, withStackName('', '-slow-queue-age'));
    assert.deepEqual(a.Dimensions, [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['SlowDeliveryQueue', 'QueueName'] } }]);
    const strip = (x: any) => ({ ...x, AlarmName: undefined, AlarmDescription: undefined, Dimensions: undefined });
    assert.deepEqual(strip(a), strip(props('QueueAgeAlarm')));
    const custom = synth({ queueAgeAlarmSeconds: '7200' }).toJSON().Resources.SlowQueueAgeAlarm.Properties;
    assert.equal(custom.Threshold, 7200);
  });

  test('fanout iterator age: over 5 minutes for 5 minutes', () => {
    const a = props('FanoutIteratorAgeAlarm');
    assert.equal(a.Namespace, 'AWS/Lambda');
    assert.equal(a.MetricName, 'IteratorAge');
    assert.deepEqual(a.Dimensions, [{ Name: 'FunctionName', Value: ref('FanoutFunction') }]);
    assert.equal(a.Statistic, 'Maximum');
    assert.equal(a.Period, 60);
    assert.equal(a.Threshold, 300000);
    assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
    assert.equal(a.EvaluationPeriods, 5);
  });

  test('notify iterator age: over 5 minutes for 5 minutes (failed publishes are batch item failures)', () => {
    const a = props('NotifyIteratorAgeAlarm');
    assert.deepEqual(a.AlarmName, withStackName('', '-notify-iterator-age'));
    assert.equal(a.Namespace, 'AWS/Lambda');
    assert.equal(a.MetricName, 'IteratorAge');
    assert.deepEqual(a.Dimensions, [{ Name: 'FunctionName', Value: ref('NotifyFunction') }]);
    assert.equal(a.Statistic, 'Maximum');
    assert.equal(a.Period, 60);
    assert.equal(a.Threshold, 300000);
    assert.equal(a.ComparisonOperator, 'GreaterThanThreshold');
    assert.equal(a.EvaluationPeriods, 5);
    assert.equal(a.TreatMissingData, 'notBreaching');
    assert.deepEqual(a.AlarmActions, [ref('AlertTopic')]);
    assert.deepEqual(a.OKActions, [ref('AlertTopic')]);
  });

  test('errors of each function: any in 5 minutes', () => {
    for (const id of FUNCTIONS) {
      const a = props(id.replace('Function', 'ErrorsAlarm'));
      assert.deepEqual(a.AlarmName, withStackName('', `-${NAMES[id]}-errors`), id);
      assert.equal(a.Namespace, 'AWS/Lambda', id);
      assert.equal(a.MetricName, 'Errors', id);
      assert.deepEqual(a.Dimensions, [{ Name: 'FunctionName', Value: ref(id) }], id);
      assert.equal(a.Statistic, 'Sum', id);
      assert.equal(a.Period, 300, id);
      assert.equal(a.Threshold, 1, id);
      assert.equal(a.ComparisonOperator, 'GreaterThanOrEqualToThreshold', id);
      assert.equal(a.EvaluationPeriods, 1, id);
    }
  });
});

describe('least privilege', () => {
  test('no statement anywhere allows a `*` resource, and no managed policies', () => {
    const res = t.toJSON().Resources;
    for (const [id, r] of Object.entries<any>(res)) {
      const docs: any[] = [];
      if (r.Type === 'AWS::IAM::Policy') docs.push(r.Properties.PolicyDocument);
      if (r.Type === 'AWS::IAM::Role') {
        assert.equal(r.Properties.ManagedPolicyArns, undefined, `${id} has managed policies`);
        for (const p of r.Properties.Policies ?? []) docs.push(p.PolicyDocument);
      }
      for (const s of docs.flatMap((d) => d.Statement)) {
        assert.ok(!list(s.Resource).includes('*'), `${id}: ${JSON.stringify(s)}`);
      }
    }
  });

  test('each function writes logs to its own log group only', () => {
    for (const id of FUNCTIONS) {
      assert.deepEqual(resourcesFor(t, id, 'logs:PutLogEvents'), [arn(logGroup(id))], id);
      assert.deepEqual(resourcesFor(t, id, 'logs:CreateLogGroup'), [], id);
    }
  });

  const table = [arn('HooklineTable'), { 'Fn::Join': ['', [arn('HooklineTable'), '/index/*']] }];
  const stream = { 'Fn::GetAtt': ['HooklineTable', 'StreamArn'] };
  const streams = { 'Fn::Join': ['', [arn('HooklineTable'), '/stream/*']] };
  const writes = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem'];

  test('api, fanout and both delivery functions use the table and its indexes', () => {
    for (const id of ['ApiFunction', 'FanoutFunction', ...DELIVERY_FUNCTIONS]) {
      for (const action of ['dynamodb:GetItem', 'dynamodb:Query', ...writes]) {
        assert.deepEqual(resourcesFor(t, id, action), table, `${id} ${action}`);
      }
    }
  });

  test('api reads the admin key secret and enqueues; nothing else secret', () => {
    assert.deepEqual(resourcesFor(t, 'ApiFunction', 'secretsmanager:GetSecretValue'), [ref('AdminKeySecret')]);
    assert.deepEqual(resourcesFor(t, 'ApiFunction', 'sqs:SendMessage'), [arn('DeliveryQueue')]);
    for (const id of ['FanoutFunction', ...DELIVERY_FUNCTIONS, 'NotifyFunction']) {
      assert.deepEqual(resourcesFor(t, id, 'secretsmanager:GetSecretValue'), [], id);
    }
  });

  test('fanout reads the stream and enqueues', () => {
    for (const action of ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator']) {
      assert.deepEqual(resourcesFor(t, 'FanoutFunction', action), [stream], action);
    }
    assert.deepEqual(resourcesFor(t, 'FanoutFunction', 'dynamodb:ListStreams'), [streams]);
    assert.deepEqual(resourcesFor(t, 'FanoutFunction', 'sqs:SendMessage'), [arn('DeliveryQueue')]);
  });

  test('each delivery function consumes its own lane\'s queue, sends to both lanes and to the DLQ', () => {
    const own: Record<string, string> = { DeliveryFunction: 'DeliveryQueue', SlowDeliveryFunction: 'SlowDeliveryQueue' };
    for (const [id, queue] of Object.entries(own)) {
      for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) {
        assert.deepEqual(resourcesFor(t, id, action), [arn(queue)], `${id} ${action}`);
      }
      // Retries are new, delayed messages: nothing changes a received message's visibility.
      assert.deepEqual(resourcesFor(t, id, 'sqs:ChangeMessageVisibility'), [], id);
      const sends = resourcesFor(t, id, 'sqs:SendMessage').map((r: any) => r['Fn::GetAtt'][0]);
      assert.deepEqual(sends.sort(), ['DeadLetterQueue', 'DeliveryQueue', 'SlowDeliveryQueue'], id);
      assert.deepEqual(resourcesFor(t, id, 'sqs:GetQueueUrl'), [], id);
    }
  });

  test('only the delivery functions know the slow lane', () => {
    for (const id of ['ApiFunction', 'FanoutFunction', 'NotifyFunction']) {
      assert.equal(fn(id).Environment.Variables.HOOKLINE_SLOW_QUEUE_URL, undefined, id);
      assert.equal(fn(id).Environment.Variables.HOOKLINE_LANE, undefined, id);
      assert.ok(!JSON.stringify(statements(t, id)).includes('SlowDeliveryQueue'), id);
    }
  });

  test('notify reads the stream and publishes to the alert topic only, and cannot write the table', () => {
    assert.deepEqual(resourcesFor(t, 'NotifyFunction', 'sns:Publish'), [ref('AlertTopic')]);
    for (const action of ['kms:GenerateDataKey*', 'kms:Decrypt']) {
      assert.deepEqual(resourcesFor(t, 'NotifyFunction', action), [arn('AlertTopicKey')], action);
    }
    for (const action of ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator']) {
      assert.deepEqual(resourcesFor(t, 'NotifyFunction', action), [stream], action);
    }
    assert.deepEqual(resourcesFor(t, 'NotifyFunction', 'dynamodb:ListStreams'), [streams]);
    const actions = statements(t, 'NotifyFunction').flatMap((s) => list(s.Action));
    for (const action of [...writes, 'dynamodb:BatchWriteItem', 'dynamodb:*', 'sqs:SendMessage']) {
      assert.ok(!actions.includes(action), action);
    }
    assert.ok(!actions.some((a) => /^dynamodb:/.test(a) && !/Stream|GetRecords|GetShardIterator/.test(a)), actions.join());
  });

  test('only notify publishes to SNS or uses the topic key', () => {
    for (const id of ['ApiFunction', 'FanoutFunction', ...DELIVERY_FUNCTIONS]) {
      assert.deepEqual(resourcesFor(t, id, 'sns:Publish'), [], id);
      assert.deepEqual(resourcesFor(t, id, 'kms:Decrypt'), [], id);
    }
  });
});

describe('outputs', () => {
  test('the seven of the spec', () => {
    const outputs = t.toJSON().Outputs;
    assert.deepEqual(Object.keys(outputs).sort(), [
      'AdminKeySecretArn',
      'AlertTopicArn',
      'ApiUrl',
      'DeadLetterQueueUrl',
      'DeliveryQueueUrl',
      'SlowDeliveryQueueUrl',
      'TableName',
    ]);
    assert.deepEqual(outputs.SlowDeliveryQueueUrl.Value, ref('SlowDeliveryQueue'));
    assert.match(outputs.AdminKeySecretArn.Description, /aws secretsmanager get-secret-value --secret-id .* --query SecretString --output text/);
  });
});

describe('provisioned table capacity', () => {
  const SCALING_ROLE =
    ':role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable';
  /** The table and its indexes: the suffix of a scalable target's ResourceId, its dimension's resource. */
  const SCALED: [string, string | undefined][] = [['', undefined], ...INDEXES.map((g): [string, string] => [g, g])];
  const resourceId = (index?: string) => ({
    'Fn::Join': ['', ['table/', ref('HooklineTable'), ...(index ? [`/index/${index}`] : [])]],
  });

  /** Checks the table, its indexes and the 8 scalable targets and policies of `template`. */
  function assertScaled(template: Template, read: [number, number], write: [number, number]) {
    const res = template.toJSON().Resources;
    const table = res.HooklineTable.Properties;
    assert.ok(table.BillingMode === undefined || table.BillingMode === 'PROVISIONED', table.BillingMode);
    const start = { ReadCapacityUnits: read[0], WriteCapacityUnits: write[0] };
    assert.deepEqual(table.ProvisionedThroughput, start);
    assert.deepEqual(
      table.GlobalSecondaryIndexes.map((g: any) => [g.IndexName, g.ProvisionedThroughput]),
      INDEXES.map((g) => [g, start]),
    );
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalableTarget', 8);
    template.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 8);
    for (const [name, index] of SCALED) {
      for (const [kind, [min, max]] of [['Read', read], ['Write', write]] as const) {
        // infra/template.yaml's logical ids
        const id = `HooklineTable${name}${kind}ScalingTarget`;
        assert.equal(res[id]?.Type, 'AWS::ApplicationAutoScaling::ScalableTarget', id);
        const target = res[id].Properties;
        assert.deepEqual(
          { ...target, RoleARN: undefined },
          {
            ServiceNamespace: 'dynamodb',
            ResourceId: resourceId(index),
            ScalableDimension: `dynamodb:${index ? 'index' : 'table'}:${kind}CapacityUnits`,
            MinCapacity: min,
            MaxCapacity: max,
            RoleARN: undefined,
          },
          id,
        );
        assert.ok(JSON.stringify(target.RoleARN).endsWith(`${SCALING_ROLE}"]]}`), JSON.stringify(target.RoleARN));
        const policies = Object.entries<any>(res).filter(
          ([, r]) => r.Type === 'AWS::ApplicationAutoScaling::ScalingPolicy' && r.Properties.ScalingTargetId?.Ref === id,
        );
        assert.deepEqual(policies.map(([pid]) => pid), [`${id}Tracking`], id);
        const policy = policies[0][1].Properties;
        assert.equal(policy.PolicyType, 'TargetTrackingScaling', id);
        assert.deepEqual(policy.TargetTrackingScalingPolicyConfiguration, {
          PredefinedMetricSpecification: { PredefinedMetricType: `DynamoDB${kind}CapacityUtilization` },
          TargetValue: 70,
        });
      }
    }
  }

  test('the table and each index start at the minimum and scale reads and writes at 70%, 5 to 1000 units', () => {
    assertScaled(synth({ tableCapacity: 'provisioned' }), [5, 1000], [5, 1000]);
  });

  test('the minimums and maximums come from the context', () => {
    const template = synth({
      tableCapacity: 'provisioned',
      tableMinReadCapacity: '2',
      tableMaxReadCapacity: '40',
      tableMinWriteCapacity: '25',
      tableMaxWriteCapacity: '4000',
    });
    assertScaled(template, [2, 40], [25, 4000]);
  });

  test('only the table changes: everything else is the on-demand template', () => {
    const scaled = synth({ tableCapacity: 'provisioned' }).toJSON().Resources;
    const base = t.toJSON().Resources;
    const changed = Object.keys({ ...scaled, ...base }).filter(
      (id) => JSON.stringify(scaled[id]) !== JSON.stringify(base[id]),
    );
    assert.deepEqual(
      changed.sort(),
      ['HooklineTable', ...Object.keys(scaled).filter((id) => /ScalingTarget(Tracking)?$/.test(id))].sort(),
    );
  });

  test('refused: an unknown mode, capacities out of range or a minimum above its maximum', () => {
    assert.throws(() => stackWith({ tableCapacity: 'provisioned-ish' }), /tableCapacity must be on-demand or provisioned/);
    assert.throws(() => stackWith({ tableCapacity: 'provisioned', tableMinWriteCapacity: '0' }), /tableMinWriteCapacity must be from 1 to 40000/);
    assert.throws(() => stackWith({ tableMaxReadCapacity: '40001' }), /tableMaxReadCapacity must be from 1 to 40000/);
    assert.throws(() => stackWith({ tableMinReadCapacity: 'five' }), /tableMinReadCapacity/);
    assert.throws(
      () => stackWith({ tableCapacity: 'provisioned', tableMinWriteCapacity: '100', tableMaxWriteCapacity: '50' }),
      /tableMinWriteCapacity must not be above tableMaxWriteCapacity/,
    );
    assert.throws(
      () => stackWith({ tableCapacity: 'provisioned', tableMinReadCapacity: '2000' }),
      /tableMinReadCapacity must not be above tableMaxReadCapacity/,
    );
  });

  test('the settings have the SAM parameters\' defaults, ranges and allowed values', () => {
    const template = fs.readFileSync(path.join(__dirname, '..', '..', 'template.yaml'), 'utf-8');
    const param = (name: string) => {
      const start = template.indexOf(`\n  ${name}:\n`);
      assert.ok(start >= 0, `${name} parameter in template.yaml`);
      return template.slice(start, template.indexOf('\n    Description:', start) + 1);
    };
    const field = (block: string, name: string) => new RegExp(`\\n    ${name}: (.*)\\n`).exec(block)?.[1];
    const mode = param('TableCapacity');
    assert.equal(field(mode, 'Default'), DEFAULTS.tableCapacity);
    assert.equal(field(mode, 'AllowedValues'), '[on-demand, provisioned]');
    for (const [name, key] of [
      ['TableMinWriteCapacity', 'tableMinWriteCapacity'],
      ['TableMaxWriteCapacity', 'tableMaxWriteCapacity'],
      ['TableMinReadCapacity', 'tableMinReadCapacity'],
      ['TableMaxReadCapacity', 'tableMaxReadCapacity'],
    ] as const) {
      const block = param(name);
      assert.equal(field(block, 'Type'), 'Number', name);
      assert.equal(Number(field(block, 'Default')), DEFAULTS[key], name);
      assert.equal(Number(field(block, 'MinValue')), 1, name);
      assert.equal(Number(field(block, 'MaxValue')), 40000, name);
    }
  });
});

describe('settings', () => {
  test('out-of-range values are refused', () => {
    assert.throws(() => stackWith({ deliveryMaxConcurrency: '1' }), /deliveryMaxConcurrency/);
    assert.throws(() => stackWith({ slowLaneMaxConcurrency: '1' }), /slowLaneMaxConcurrency must be from 2 to 1000/);
    assert.throws(() => stackWith({ slowLaneMaxConcurrency: '1001' }), /slowLaneMaxConcurrency/);
    assert.throws(() => stackWith({ slowLaneMaxConcurrency: 'five' }), /slowLaneMaxConcurrency/);
    assert.throws(() => stackWith({ deliveryTimeoutMs: '20000' }), /deliveryTimeoutMs/);
    assert.throws(() => stackWith({ deliveryTimeoutMs: '100' }), /deliveryTimeoutMs/);
    assert.throws(() => stackWith({ retrySchedule: '5s,1d' }), /retrySchedule/);
    assert.throws(() => stackWith({ retentionDays: '1' }), /retentionDays/);
    assert.throws(() => stackWith({ maxReceiveCount: 'eleven' }), /maxReceiveCount/);
    assert.throws(() => stackWith({ architecture: 'riscv' }), /architecture/);
    assert.throws(() => stackWith({ logRetentionDays: '31' }), /logRetentionDays/);
    assert.throws(() => stackWith({ logLevel: 'VERBOSE' }), /logLevel/);
    assert.throws(() => stackWith({ requireHttps: 'yes' }), /requireHttps/);
    assert.throws(() => stackWith({ strictEventTypes: 'yes' }), /strictEventTypes/);
  });

  test('retry schedules within the functions\' limits are accepted', () => {
    const ok = [
      '',
      '5s,5m,30m,2h,5h,10h,10h',
      '1ms',
      '12h',
      '720m',
      '43200s',
      Array(14).fill('12h').join(','), // exactly 7 days
      Array(30).fill('5h').join(','), // 30 waits, 150 h
      Array(30).fill('1s').join(','),
      '999999ms',
    ];
    for (const schedule of ok) {
      assert.equal(retryScheduleProblem(schedule), undefined, schedule);
      assert.match(schedule, new RegExp(RETRY_SCHEDULE_PATTERN), schedule);
    }
    const env = synth({ retrySchedule: Array(14).fill('12h').join(','), maxReceiveCount: '17' }).toJSON().Resources
      .DeliveryFunction.Properties.Environment.Variables;
    assert.equal(env.HOOKLINE_RETRY_SCHEDULE, Array(14).fill('12h').join(','));
  });

  test('retry schedules the functions would refuse are refused, saying why', () => {
    const refused: [string, RegExp][] = [
      ['5s,1d', /"1d" is not a duration/],
      ['5s,,5m', /"" is not a duration/],
      ['5s, 5m', /" 5m" is not a duration/],
      ['5', /"5" is not a duration/],
      ['-5s', /is not a duration/],
      ['1.5h', /is not a duration/],
      ['0s', /wait "0s" is zero/],
      ['5s,0ms,5m', /wait "0ms" is zero/],
      ['000h', /wait "000h" is zero/],
      ['05s', /1 to 6 digits and no leading zero/],
      ['1000000ms', /1 to 6 digits and no leading zero/],
      ['43200000ms', /1 to 6 digits and no leading zero/], // 12 h, but longer than the pattern allows
      ['13h', /wait "13h" is longer than 12h/],
      ['721m', /wait "721m" is longer than 12h/],
      ['43201s', /wait "43201s" is longer than 12h/],
      [Array(31).fill('1s').join(','), /31 waits; at most 30/],
      [Array(15).fill('12h').join(','), /add up to 180\.0 h; at most 7 days/],
      [[...Array(14).fill('12h'), '1ms'].join(','), /at most 7 days/],
    ];
    for (const [schedule, why] of refused) {
      const problem = retryScheduleProblem(schedule);
      assert.ok(problem !== undefined, schedule);
      assert.match(problem, why, schedule);
      assert.throws(
        () => stackWith({ retrySchedule: schedule, maxReceiveCount: '1000' }),
        (e: Error) => e.message.startsWith(`Hookline: retrySchedule ${JSON.stringify(schedule)}: `) && why.test(e.message),
        schedule,
      );
    }
    // What the template's pattern already refuses, the construct refuses too.
    for (const [schedule] of refused) {
      if (!new RegExp(RETRY_SCHEDULE_PATTERN).test(schedule)) assert.notEqual(retryScheduleProblem(schedule), undefined, schedule);
    }
  });

  test('the retry schedule pattern is the SAM template\'s', () => {
    const template = fs.readFileSync(path.join(__dirname, '..', '..', 'template.yaml'), 'utf-8');
    const param = template.slice(template.indexOf('\n  RetrySchedule:\n'), template.indexOf('\n  MaxReceiveCount:\n'));
    assert.match(param, /\n    AllowedPattern: (.*)\n/);
    assert.equal(/\n    AllowedPattern: (.*)\n/.exec(param)![1], RETRY_SCHEDULE_PATTERN);
  });

  test('the slow lane\'s concurrency has the SAM parameter\'s default and range', () => {
    const template = fs.readFileSync(path.join(__dirname, '..', '..', 'template.yaml'), 'utf-8');
    const start = template.indexOf('\n  SlowLaneMaxConcurrency:\n    Type: Number\n');
    assert.ok(start >= 0, 'SlowLaneMaxConcurrency parameter in template.yaml');
    const param = template.slice(start, template.indexOf('\n    Description:', start) + 1);
    const field = (name: string) => Number(new RegExp(`\\n    ${name}: (\\d+)\\n`).exec(param)?.[1]);
    assert.equal(field('Default'), DEFAULTS.slowLaneMaxConcurrency);
    assert.equal(field('MinValue'), 2);
    assert.equal(field('MaxValue'), 1000);
    synth({ slowLaneMaxConcurrency: '2' });
    synth({ slowLaneMaxConcurrency: '1000' });
  });

  test('missing binaries say how to build them', () => {
    assert.throws(
      () => stackWith({ binariesDir: path.join(tmp, 'nowhere') }),
      /api\/bootstrap not found: build the functions first with `cargo lambda build --release --x86-64 -p hookline-functions`/,
    );
  });

  test('binaries built for another architecture are flagged', () => {
    const x86 = binaries('x86', 0x3e);
    const mismatched = stackWith({ binariesDir: x86 });
    Annotations.fromStack(mismatched).hasWarning('*', Match.stringLikeRegexp('built for x86_64.*configured for arm64'));
    const matched = stackWith({ binariesDir: x86, architecture: 'x86_64' });
    Annotations.fromStack(matched).hasNoWarning('*', Match.stringLikeRegexp('built for'));
  });
});
