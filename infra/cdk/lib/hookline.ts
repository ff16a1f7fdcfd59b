// Hookline on AWS as one construct: the table and its stream, the delivery queues (the main lane
// and the slow lane) and their DLQ, the five functions (four binaries; delivery runs once per
// lane), the outbox sweep's schedule, the HTTP API, the admin key secret, the alert topic and the
// alarms.
// It builds the same resources as infra/template.yaml; infra/parity.py keeps the two in step.

import * as fs from 'fs';
import * as path from 'path';
import { Annotations, Aws, CfnCondition, Duration, Fn, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export type Architecture = 'arm64' | 'x86_64';
export type LogLevel = 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL';
/** The table's capacity mode: billed per request, or provisioned and auto scaled. */
export type TableCapacity = 'on-demand' | 'provisioned';

/** The Lambda binaries `cargo lambda build` produces, one `<bin>/bootstrap` each. */
export const BINS = ['api', 'fanout', 'delivery', 'notify'] as const;
export type Bin = (typeof BINS)[number];

/**
 * Each function's `Description`, always `Hookline <bin>: ...`: infra/parity.py recognises a
 * function by it (or, in the SAM template, by its `BuildProperties.Binary`).
 */
export const DESCRIPTIONS: Record<Bin, string> = {
  api: 'Hookline api: the HTTP API (the same router as hookline dev)',
  fanout: 'Hookline fanout: turns each new event in the outbox into delivery jobs (table stream, outbox sweep)',
  delivery: 'Hookline delivery: delivers jobs from the delivery queue (partial batch failures)',
  notify: 'Hookline notify: publishes hookline.delivery.failed and hookline.endpoint.* events to the alert topic (table stream)',
};
/** The slow lane's delivery function: the delivery bin, so its description starts the same. */
export const SLOW_DELIVERY_DESCRIPTION =
  'Hookline delivery: delivers jobs of failing or slow endpoints, and retries, from the slow lane queue (partial batch failures)';

/** The same parameters, with the same defaults and ranges, as infra/template.yaml. */
export interface HooklineProps {
  /** Instruction set of the functions; must match the binaries. @default 'arm64' */
  readonly architecture?: Architecture;
  /**
   * Waits between attempts (`HOOKLINE_RETRY_SCHEDULE`; units ms, s, m, h): at most 30, none
   * zero, each at most 12h, adding up to at most 7 days. @default '5s,5m,30m,2h,5h,10h,10h'
   */
  readonly retrySchedule?: string;
  /**
   * Receives before SQS itself moves a job to the DLQ (`HOOKLINE_MAX_RECEIVE_COUNT`): keep it at
   * attempts + 3; the delivery function refuses to start below attempts + 1. @default 11
   */
  readonly maxReceiveCount?: number;
  /** Timeout of one delivery attempt when a subscription sets none, 500 to 15000 ms. @default 5000 */
  readonly deliveryTimeoutMs?: number;
  /** Refuse `http://` destinations. @default true */
  readonly requireHttps?: boolean;
  /**
   * Accept events of declared types only, and subscriptions naming declared types only
   * (`HOOKLINE_STRICT_EVENT_TYPES`, the api function's). @default false
   */
  readonly strictEventTypes?: boolean;
  /** Consecutive failed attempts that open an endpoint's circuit, 1 to 1000. @default 5 */
  readonly circuitFailures?: number;
  /** Seconds an open circuit may last before its subscription is disabled, 1 to 2592000. @default 259200 */
  readonly circuitDisableAfterSecs?: number;
  /** Application log level Lambda passes to the functions. @default 'INFO' */
  readonly logLevel?: LogLevel;
  /** Retention of the functions' log groups, in days. @default 30 */
  readonly logRetentionDays?: number;
  /** Days events and deliveries are kept (`HOOKLINE_RETENTION_DAYS`), 2 to 3650. @default 30 */
  readonly retentionDays?: number;
  /** Most delivery functions the main lane's queue runs at once, 2 to 1000. @default 20 */
  readonly deliveryMaxConcurrency?: number;
  /**
   * Most delivery functions the slow lane's queue runs at once, 2 to 1000: the lane attempting
   * failing or slow endpoints, capped apart from `deliveryMaxConcurrency`. @default 5
   */
  readonly slowLaneMaxConcurrency?: number;
  /**
   * Address subscribed to the alert topic, none when empty. A token (a CfnParameter, as
   * HooklineStack passes) puts the subscription under the `HasAlertEmail` condition. @default ''
   */
  readonly alertEmail?: string;
  /** Alarm when the oldest job waits longer than this, 60 to 345600 s. @default 3600 */
  readonly queueAgeAlarmSeconds?: number;
  /**
   * The table's capacity: `on-demand` (PAY_PER_REQUEST), or `provisioned`: the table and each
   * index get provisioned read and write capacity, starting at the minimums below, which
   * Application Auto Scaling keeps at 70% utilisation between the minimums and maximums.
   * @default 'on-demand'
   */
  readonly tableCapacity?: TableCapacity;
  /** With `provisioned`: fewest write capacity units of the table, and of each index, 1 to 40000. @default 5 */
  readonly tableMinWriteCapacity?: number;
  /** With `provisioned`: most write capacity units of the table, and of each index, 1 to 40000. @default 1000 */
  readonly tableMaxWriteCapacity?: number;
  /** With `provisioned`: fewest read capacity units of the table, and of each index, 1 to 40000. @default 5 */
  readonly tableMinReadCapacity?: number;
  /** With `provisioned`: most read capacity units of the table, and of each index, 1 to 40000. @default 1000 */
  readonly tableMaxReadCapacity?: number;
  /** Directory holding `<bin>/bootstrap` for each bin. @default '<repo>/target/lambda' */
  readonly binariesDir?: string;
}

export const DEFAULTS: Required<HooklineProps> = {
  architecture: 'arm64',
  retrySchedule: '5s,5m,30m,2h,5h,10h,10h',
  maxReceiveCount: 11,
  deliveryTimeoutMs: 5000,
  requireHttps: true,
  strictEventTypes: false,
  circuitFailures: 5,
  circuitDisableAfterSecs: 259200,
  logLevel: 'INFO',
  logRetentionDays: 30,
  retentionDays: 30,
  deliveryMaxConcurrency: 20,
  slowLaneMaxConcurrency: 5,
  alertEmail: '',
  queueAgeAlarmSeconds: 3600,
  tableCapacity: 'on-demand',
  tableMinWriteCapacity: 5,
  tableMaxWriteCapacity: 1000,
  tableMinReadCapacity: 5,
  tableMaxReadCapacity: 1000,
  binariesDir: path.resolve(__dirname, '..', '..', '..', 'target', 'lambda'),
};

/**
 * Per function: timeout (s), memory (MB). The api function's 29 s is just under the HTTP API's
 * 30 s limit: `/test` and `/retry` make one synchronous attempt of up to 15 s.
 */
const SIZES: Record<Bin, { timeout: number; memory: number }> = {
  api: { timeout: 29, memory: 256 },
  fanout: { timeout: 60, memory: 256 },
  delivery: { timeout: 30, memory: 256 },
  notify: { timeout: 30, memory: 128 },
};

/** The outbox sweep: the fanout function's schedule, and the input that asks it to sweep. */
export const SWEEP = { schedule: 'rate(5 minutes)', input: { sweep: true } };

/** The SAM template's `AllowedPattern` of `RetrySchedule`: 1 to 30 waits, none zero. */
export const RETRY_SCHEDULE_PATTERN = '^$|^[1-9][0-9]{0,5}(ms|s|m|h)(,[1-9][0-9]{0,5}(ms|s|m|h)){0,29}$';
/**
 * The limits the functions enforce (they refuse to start otherwise), from `infra/limits.json`,
 * which a Rust test holds equal to the core's constants: the numbers are written once.
 */
const LIMITS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'limits.json'), 'utf8'));
// What gsi1 and gsi2 project besides the keys (`PROJECTED` in shared/aws/src/dynamo/keys.rs).
const LISTED_ATTRIBUTES = ['body', 'id', 'tenant_id', 'name', 'hash', 'created_at', 'revoked_at'];
export const RETRY_LIMITS = {
  waits: LIMITS.retrySchedule.maxWaits as number,
  waitMs: LIMITS.retrySchedule.maxWaitMs as number,
  totalMs: LIMITS.retrySchedule.maxTotalMs as number,
};
export const DELIVERY_TIMEOUT_MS = LIMITS.deliveryTimeoutMs as { min: number; max: number; default: number };
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** The table's indexes (gsi1 and gsi2 project LISTED_ATTRIBUTES, gsi3 keys only). */
export const INDEXES = ['gsi1', 'gsi2', 'gsi3'] as const;
/**
 * Provisioned capacity: the utilisation (percent) auto scaling keeps the table's and each index's
 * read and write capacity at, and the range of the capacity settings (units; 40000 is DynamoDB's
 * default per-table quota).
 */
export const TABLE_TARGET_UTILIZATION = 70;
export const TABLE_CAPACITY_RANGE = { min: 1, max: 40000 };

/** Stage-wide throttling of the HTTP API: steady requests per second, and bursts. */
export const API_THROTTLE = { rateLimit: 1000, burstLimit: 500 };

// TransactWriteItems is authorised per item action (Put, Update, ConditionCheck).
const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
];
const STREAM_READ_ACTIONS = ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'];
const QUEUE_CONSUME_ACTIONS = ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'];

const title = (word: string) => word[0].toUpperCase() + word.slice(1);

/** One per stack: queue, log group and alarm names derive from the stack's name. */
export class Hookline extends Construct {
  readonly table: dynamodb.Table;
  /** The main lane's delivery queue. */
  readonly queue: sqs.Queue;
  /** The slow lane's delivery queue: jobs of failing or slow endpoints, and retries. */
  readonly slowQueue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly adminKeySecret: secretsmanager.Secret;
  readonly alertTopicKey: kms.Key;
  readonly alertTopic: sns.Topic;
  /** The e-mail subscription, when there is an address. */
  readonly alertSubscription?: sns.CfnSubscription;
  readonly httpApi: apigwv2.HttpApi;
  readonly httpStage: apigwv2.HttpStage;
  readonly functions: Record<Bin, lambda.Function>;
  /** The slow lane's consumer (the delivery bin; `functions.delivery` is the main lane's). */
  readonly slowDeliveryFunction: lambda.Function;
  /** The fanout function's outbox sweep schedule. */
  readonly sweepRule: events.Rule;
  readonly alarms: Record<string, cloudwatch.Alarm>;

  constructor(scope: Construct, id: string, props: HooklineProps = {}) {
    super(scope, id);
    const p = resolveProps(props);
    // `${AWS::StackName}`, resolved at deploy time: the names below and the DLQ's spelled-out
    // ARN of the delivery queue agree whatever name the stack is deployed under.
    const stackName = Aws.STACK_NAME;

    // --- Data -----------------------------------------------------------------------------

    // Retained when the stack goes: it holds the subscriptions, their secrets and the delivery log.
    // On demand by default; provisioned, the table and each index start at the minimum capacity
    // and auto scaling moves them (scaleTable).
    const provisioned = p.tableCapacity === 'provisioned';
    const capacity = provisioned ? { readCapacity: p.tableMinReadCapacity, writeCapacity: p.tableMinWriteCapacity } : {};
    this.table = new dynamodb.Table(this, 'HooklineTable', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
      billingMode: provisioned ? dynamodb.BillingMode.PROVISIONED : dynamodb.BillingMode.PAY_PER_REQUEST,
      ...capacity,
      stream: dynamodb.StreamViewType.NEW_IMAGE,
      timeToLiveAttribute: 'ttl',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // gsi1 and gsi2 project only what listing subscriptions and keys reads and what never changes
    // on a delivery, so recording an attempt writes no index copy; gsi3 is sparse and keys-only
    // (failed deliveries).
    for (const gsi of INDEXES) {
      const listed = gsi !== 'gsi3';
      this.table.addGlobalSecondaryIndex({
        indexName: gsi,
        partitionKey: { name: `${gsi}pk`, type: dynamodb.AttributeType.STRING },
        sortKey: { name: `${gsi}sk`, type: dynamodb.AttributeType.STRING },
        projectionType: listed ? dynamodb.ProjectionType.INCLUDE : dynamodb.ProjectionType.KEYS_ONLY,
        nonKeyAttributes: listed ? LISTED_ATTRIBUTES : undefined,
        ...capacity,
      });
    }
    if (provisioned) this.scaleTable(p);

    // The queues have fixed names so the DLQ's redrive-allow policy can spell out the delivery
    // queues' ARNs: referring to the queues themselves would be a cycle (their RedrivePolicy
    // names the DLQ).
    const queueArn = Fn.sub('arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-deliveries');
    const slowQueueArn = Fn.sub(
      'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-deliveries-slow',
    );
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: `${stackName}-deliveries-dlq`,
      // 14 days, SQS's maximum: time to look at a failure and redrive it. A job Hookline
      // dead-letters itself is a new message (the full 14 days); one SQS moves here after
      // maxReceiveCount receives keeps its original enqueue time.
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      redriveAllowPolicy: {
        redrivePermission: sqs.RedrivePermission.BY_QUEUE,
        sourceQueues: [
          sqs.Queue.fromQueueArn(this, 'DeliveryQueueByArn', queueArn),
          sqs.Queue.fromQueueArn(this, 'SlowDeliveryQueueByArn', slowQueueArn),
        ],
      },
    });
    this.queue = new sqs.Queue(this, 'DeliveryQueue', {
      queueName: `${stackName}-deliveries`,
      // 6 x the delivery function's timeout, as AWS advises for SQS event sources.
      visibilityTimeout: Duration.seconds(6 * SIZES.delivery.timeout),
      // 14 days, SQS's maximum: a job is one message for all its attempts. The functions refuse
      // a schedule whose waits add up to more than 7 days: with 10% jitter at most 7 d 16 h 48 min,
      // plus at most 31 attempts of at most 15 s; more than 6 days are left for outages.
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: p.maxReceiveCount },
    });
    // The slow lane: jobs of endpoints that fail or time out, and retries, are forwarded here and
    // attempted by their own function, capped at slowLaneMaxConcurrency apart from the main lane,
    // so a dead or hanging endpoint cannot hold the main lane. The same settings and DLQ as the
    // delivery queue (a job moves between the two lanes).
    this.slowQueue = new sqs.Queue(this, 'SlowDeliveryQueue', {
      queueName: `${stackName}-deliveries-slow`,
      visibilityTimeout: Duration.seconds(6 * SIZES.delivery.timeout),
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: p.maxReceiveCount },
    });

    // The admin API key, generated at deploy time: never a parameter, never in the template.
    this.adminKeySecret = new secretsmanager.Secret(this, 'AdminKeySecret', {
      description: `Hookline admin API key (stack ${stackName}); the api function reads it at cold start.`,
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });

    // --- Alerts ---------------------------------------------------------------------------

    // CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key
    // (alias/aws/sns), whose key policy cannot grant cloudwatch.amazonaws.com: the topic has its
    // own key, which this account's alarms may use. (`Resource: *` in a key policy means the key.)
    this.alertTopicKey = new kms.Key(this, 'AlertTopicKey', {
      description: `Encrypts the Hookline alert topic of stack ${stackName}`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.alertTopicKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchAlarmsPublishToTheTopic',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': Fn.sub('arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*') },
        },
      }),
    );
    this.alertTopic = new sns.Topic(this, 'AlertTopic', { displayName: 'Hookline alerts' });
    // By key id (`masterKey` would give the ARN), as infra/template.yaml has it.
    (this.alertTopic.node.defaultChild as sns.CfnTopic).kmsMasterKeyId = this.alertTopicKey.keyId;
    // An address known at synth time gives a subscription or none; a deploy-time one gives a
    // subscription under the HasAlertEmail condition, as in infra/template.yaml.
    if (Token.isUnresolved(p.alertEmail) || p.alertEmail !== '') {
      this.alertSubscription = new sns.CfnSubscription(this, 'AlertEmailSubscription', {
        topicArn: this.alertTopic.topicArn,
        protocol: 'email',
        endpoint: p.alertEmail,
      });
      if (Token.isUnresolved(p.alertEmail)) {
        this.alertSubscription.cfnOptions.condition = new CfnCondition(this, 'HasAlertEmail', {
          expression: Fn.conditionNot(Fn.conditionEquals(p.alertEmail, '')),
        });
      }
    }

    // --- Functions ------------------------------------------------------------------------

    const common: Record<string, string> = {
      HOOKLINE_TABLE: this.table.tableName,
      HOOKLINE_QUEUE_URL: this.queue.queueUrl,
      HOOKLINE_DLQ_URL: this.deadLetterQueue.queueUrl,
      HOOKLINE_RETRY_SCHEDULE: p.retrySchedule,
      HOOKLINE_REQUIRE_HTTPS: String(p.requireHttps),
      HOOKLINE_DELIVERY_TIMEOUT_MS: String(p.deliveryTimeoutMs),
      HOOKLINE_RETENTION_DAYS: String(p.retentionDays),
      HOOKLINE_CIRCUIT_FAILURES: String(p.circuitFailures),
      HOOKLINE_CIRCUIT_DISABLE_AFTER_SECS: String(p.circuitDisableAfterSecs),
    };
    // Both delivery functions know both lanes' queues, and which one they consume.
    const delivery = (lane: 'main' | 'slow'): Record<string, string> => {
      const { HOOKLINE_QUEUE_URL, HOOKLINE_DLQ_URL, ...rest } = common;
      return {
        HOOKLINE_QUEUE_URL,
        HOOKLINE_SLOW_QUEUE_URL: this.slowQueue.queueUrl,
        HOOKLINE_LANE: lane,
        HOOKLINE_DLQ_URL,
        ...rest,
      };
    };
    const env: Record<Bin, Record<string, string>> = {
      api: {
        ...common,
        HOOKLINE_ADMIN_KEY_SECRET_ARN: this.adminKeySecret.secretArn,
        HOOKLINE_STRICT_EVENT_TYPES: String(p.strictEventTypes),
      },
      fanout: common,
      // The delivery function refuses to start when it is below attempts + 1.
      delivery: { ...delivery('main'), HOOKLINE_MAX_RECEIVE_COUNT: String(p.maxReceiveCount) },
      notify: { HOOKLINE_NOTIFY_TOPIC_ARN: this.alertTopic.topicArn },
    };
    const fns = {} as Record<Bin, lambda.Function>;
    for (const bin of BINS) fns[bin] = this.makeFunction(bin, p, env[bin]);
    this.functions = fns;
    // The slow lane's consumer: the same binary and settings, its own log group, role and cap.
    const slowDelivery = this.makeFunction(
      'delivery',
      p,
      { ...delivery('slow'), HOOKLINE_MAX_RECEIVE_COUNT: String(p.maxReceiveCount) },
      'slow',
    );
    this.slowDeliveryFunction = slowDelivery;

    // Every permission is spelled out here, as in infra/template.yaml. (The aws-lambda-event-sources
    // classes would add their own grants: DynamoEventSource gives dynamodb:ListStreams on `*`.)
    const grant = (f: lambda.Function, actions: string[], resources: string[]) =>
      f.addToRolePolicy(new iam.PolicyStatement({ actions, resources }));
    const allow = (bin: Bin, actions: string[], resources: string[]) => grant(fns[bin], actions, resources);
    const table = [this.table.tableArn, `${this.table.tableArn}/index/*`];
    const stream = this.table.tableStreamArn!;
    const streams = `${this.table.tableArn}/stream/*`;

    allow('api', TABLE_ACTIONS, table);
    allow('api', ['sqs:SendMessage'], [this.queue.queueArn]); // recovery and redelivery
    allow('api', ['secretsmanager:GetSecretValue'], [this.adminKeySecret.secretArn]);

    allow('fanout', TABLE_ACTIONS, table);
    allow('fanout', ['sqs:SendMessage'], [this.queue.queueArn]);
    allow('fanout', STREAM_READ_ACTIONS, [stream]);
    allow('fanout', ['dynamodb:ListStreams'], [streams]);

    // The two delivery functions alike, each consuming its own lane's queue.
    const deliveryQueues = [this.queue.queueArn, this.slowQueue.queueArn];
    for (const [f, own] of [
      [fns.delivery, this.queue.queueArn],
      [slowDelivery, this.slowQueue.queueArn],
    ] as const) {
      grant(f, TABLE_ACTIONS, table);
      // The event source's polling, and the function's own deletes: of its own lane's queue only.
      grant(f, QUEUE_CONSUME_ACTIONS, [own]);
      // Jobs go on as new messages (SendMessageBatch is authorised as SendMessage) to either lane:
      // retries and failing endpoints' jobs to the slow lane, a closed circuit's work to the main.
      grant(f, ['sqs:SendMessage'], deliveryQueues);
      // Giving up moves the job to the DLQ with its reason.
      grant(f, ['sqs:SendMessage'], [this.deadLetterQueue.queueArn]);
    }

    allow('notify', STREAM_READ_ACTIONS, [stream]);
    allow('notify', ['dynamodb:ListStreams'], [streams]);
    allow('notify', ['sns:Publish'], [this.alertTopic.topicArn]);
    allow('notify', ['kms:GenerateDataKey*', 'kms:Decrypt'], [this.alertTopicKey.keyArn]);

    // Lambda checks the role when it creates a mapping; each mapping names its function, which
    // depends on the role's policy, so the policy is in place first.
    fns.fanout.addEventSourceMapping('Stream', {
      eventSourceArn: stream,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(1),
      bisectBatchOnError: true,
      // -1: retry until the batch succeeds, a stored event is never dropped. Records stay in the
      // stream for 24 h; FanoutIteratorAgeAlarm fires after 5 minutes of lag.
      retryAttempts: -1,
      reportBatchItemFailures: true,
      filters: [
        lambda.FilterCriteria.filter({
          eventName: lambda.FilterRule.isEqual('INSERT'),
          dynamodb: { NewImage: { outbox: { S: lambda.FilterRule.beginsWith('OUTBOX#') } } },
        }),
      ],
    });
    // The outbox sweep (`FanoutFunctionSweep`, as SAM names a function's Schedule event): on this
    // input the function fans out the events still in the outbox 10 minutes or more after they
    // were stored, whose stream records were lost (24 h of failed fan-outs) or never came.
    const sweep = new events.Rule(fns.fanout, 'Sweep', {
      description: 'Hookline outbox sweep (fans out events the table stream did not)',
      schedule: events.Schedule.expression(SWEEP.schedule),
    });
    sweep.addTarget(
      new targets.LambdaFunction(fns.fanout, { event: events.RuleTargetInput.fromObject(SWEEP.input) }),
    );
    // SAM's id for the target, so the two templates agree to the letter.
    (sweep.node.defaultChild as events.CfnRule).addPropertyOverride('Targets.0.Id', 'FanoutFunctionSweepLambdaTarget');
    this.sweepRule = sweep;
    fns.notify.addEventSourceMapping('Stream', {
      eventSourceArn: stream,
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      batchSize: 100,
      reportBatchItemFailures: true,
      filters: [
        // Event items only (pk EVT#...): delivery items carry event_type too, and delivering a
        // hookline.delivery.failed event to a subscriber is not a new failure.
        lambda.FilterCriteria.filter({
          eventName: lambda.FilterRule.isEqual('INSERT'),
          dynamodb: {
            NewImage: {
              pk: { S: lambda.FilterRule.beginsWith('EVT#') },
              // failed deliveries and the endpoint lifecycle events (hookline.endpoint.*)
              event_type: { S: ['hookline.delivery.failed', { prefix: 'hookline.endpoint.' }] },
            },
          },
        }),
      ],
    });
    fns.delivery.addEventSourceMapping('Queue', {
      eventSourceArn: this.queue.queueArn,
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(0),
      reportBatchItemFailures: true,
      maxConcurrency: p.deliveryMaxConcurrency,
    });
    slowDelivery.addEventSourceMapping('Queue', {
      eventSourceArn: this.slowQueue.queueArn,
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(0),
      reportBatchItemFailures: true,
      maxConcurrency: p.slowLaneMaxConcurrency,
    });

    // --- API ------------------------------------------------------------------------------

    // HTTP API rather than REST API: Hookline authenticates callers itself (admin and tenant
    // keys), so API keys and usage plans add nothing, and HTTP API costs $1.00 instead of $3.50
    // per million requests. One $default route sends every request to the api function.
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: stackName,
      description: 'Hookline API',
      defaultIntegration: new HttpLambdaIntegration('Integration', fns.api, {
        payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
      }),
      createDefaultStage: false,
    });
    // Stage-wide throttling, 1000 requests/s steady and bursts of 500 (the account-wide defaults
    // are 10000 and 5000): raise it if producers need more.
    this.httpStage = new apigwv2.HttpStage(this.httpApi, 'ApiGatewayDefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: API_THROTTLE,
    });

    this.alarms = this.makeAlarms(p, stackName);
  }

  /**
   * Auto scaling of the provisioned table: reads and writes of the table and of each index, each
   * a scalable target (Application Auto Scaling's service-linked role for DynamoDB) with a
   * target-tracking policy at TABLE_TARGET_UTILIZATION. Every index is scaled, not only the
   * table: an index short of write capacity throttles the table's writes.
   */
  private scaleTable(p: Required<HooklineProps>) {
    const utilization = { targetUtilizationPercent: TABLE_TARGET_UTILIZATION };
    const read = { minCapacity: p.tableMinReadCapacity, maxCapacity: p.tableMaxReadCapacity };
    const write = { minCapacity: p.tableMinWriteCapacity, maxCapacity: p.tableMaxWriteCapacity };
    this.table.autoScaleReadCapacity(read).scaleOnUtilization(utilization);
    this.table.autoScaleWriteCapacity(write).scaleOnUtilization(utilization);
    for (const gsi of INDEXES) {
      this.table.autoScaleGlobalSecondaryIndexReadCapacity(gsi, read).scaleOnUtilization(utilization);
      this.table.autoScaleGlobalSecondaryIndexWriteCapacity(gsi, write).scaleOnUtilization(utilization);
    }
  }

  /**
   * A function running `bin`; for a `lane` other than the main one, its ids get the lane as a
   * prefix (`SlowDeliveryFunction`) and its log group's name as a suffix (`...-delivery-slow`).
   */
  private makeFunction(bin: Bin, p: Required<HooklineProps>, environment: Record<string, string>, lane?: 'slow') {
    const name = lane ? `${title(lane)}${title(bin)}` : title(bin);
    const logName = lane ? `${bin}-${lane}` : bin;
    const code = path.join(p.binariesDir, bin);
    const bootstrap = path.join(code, 'bootstrap');
    if (!fs.existsSync(bootstrap)) {
      throw new Error(
        `${bootstrap} not found: build the functions first with ` +
          '`cargo lambda build --release --x86-64 -p hookline-functions` (or pass binariesDir)',
      );
    }
    const built = elfArchitecture(bootstrap);
    if (built && built !== p.architecture) {
      Annotations.of(this).addWarning(
        `${bootstrap} is built for ${built}, but the functions are configured for ${p.architecture}`,
      );
    }

    const logGroup = new logs.LogGroup(this, `${name}LogGroup`, {
      logGroupName: `/aws/lambda/${Aws.STACK_NAME}-${logName}`,
      retention: p.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // An own role without AWSLambdaBasicExecutionRole (whose log statements are on `*`): the
    // function writes to its own log group only.
    const role = new iam.Role(this, `${name}FunctionRole`, {
      description: lane ? `Hookline ${bin} function, ${lane} lane` : `Hookline ${bin} function`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    );

    return new lambda.Function(this, `${name}Function`, {
      description: lane ? SLOW_DELIVERY_DESCRIPTION : DESCRIPTIONS[bin],
      code: lambda.Code.fromAsset(code),
      handler: 'bootstrap',
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: p.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      timeout: Duration.seconds(SIZES[bin].timeout),
      memorySize: SIZES[bin].memory,
      environment,
      role,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: p.logLevel as lambda.ApplicationLogLevel,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
    });
  }

  private makeAlarms(p: Required<HooklineProps>, stackName: string): Record<string, cloudwatch.Alarm> {
    const action = new SnsAction(this.alertTopic);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const alarm = (id: string, name: string, props: Omit<cloudwatch.AlarmProps, 'alarmName' | 'treatMissingData'>) => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmName: `${stackName}-${name}`,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...props,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      alarms[id] = a;
    };

    alarm('DlqDepthAlarm', 'dlq-depth', {
      alarmDescription:
        'A delivery exhausted its retries (or failed for good), or a job was redriven by SQS after ' +
        'maxReceiveCount receives. Inspect the dead-letter queue; redrive once the cause is fixed.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: 'Maximum',
        period: Duration.seconds(60),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    // SQS leaves a message out of this metric once it has been received 3 times, which with the
    // default schedule happens within about 39 min: an older message means jobs are not being
    // received at all (a stuck, failing or throttled delivery function), not backing off.
    alarm('QueueAgeAlarm', 'queue-age', {
      alarmDescription:
        'Deliveries are not keeping up: the oldest job not yet received 3 times waits too long. ' +
        "Check the delivery function's errors, throttles and concurrency.",
      metric: this.queue.metricApproximateAgeOfOldestMessage({
        statistic: 'Maximum',
        period: Duration.seconds(300),
      }),
      threshold: p.queueAgeAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    // The slow lane's queue, on the same threshold: each retry there is a new message, so an old
    // one means the lane is not receiving its jobs (failing, or held at slowLaneMaxConcurrency).
    alarm('SlowQueueAgeAlarm', 'slow-queue-age', {
      alarmDescription:
        'The slow lane is not keeping up: the oldest job in its queue not yet received 3 times waits ' +
        "too long, so retries and failing endpoints' jobs are late. Check the slow delivery function's " +
        'errors, throttles and concurrency (slowLaneMaxConcurrency).',
      metric: this.slowQueue.metricApproximateAgeOfOldestMessage({
        statistic: 'Maximum',
        period: Duration.seconds(300),
      }),
      threshold: p.queueAgeAlarmSeconds,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
    });
    alarm('FanoutIteratorAgeAlarm', 'fanout-iterator-age', {
      alarmDescription:
        "Stored events are not being fanned out: the fanout function's stream iterator has been " +
        'more than 5 minutes behind for 5 minutes. Records leave the stream after 24 h; the outbox ' +
        'sweep fans out their events once fan-out works again.',
      metric: this.functions.fanout.metric('IteratorAge', {
        statistic: 'Maximum',
        period: Duration.seconds(60),
      }),
      threshold: 300_000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
    });
    // A publish that keeps failing is a batch item failure, not a function error: only the
    // iterator age shows it.
    alarm('NotifyIteratorAgeAlarm', 'notify-iterator-age', {
      alarmDescription:
        "Failure notifications are not being published: the notify function's stream iterator has " +
        'been more than 5 minutes behind for 5 minutes. Records leave the stream after 24 h.',
      metric: this.functions.notify.metric('IteratorAge', {
        statistic: 'Maximum',
        period: Duration.seconds(60),
      }),
      threshold: 300_000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
    });
    // Items a function reports as batch item failures are not function errors.
    for (const bin of BINS) {
      alarm(`${title(bin)}ErrorsAlarm`, `${bin}-errors`, {
        alarmDescription: `The ${bin} function failed (crash, timeout or init failure).`,
        metric: this.functions[bin].metricErrors({ statistic: 'Sum', period: Duration.seconds(300) }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    alarm('SlowDeliveryErrorsAlarm', 'delivery-slow-errors', {
      alarmDescription: "The slow lane's delivery function failed (crash, timeout or init failure).",
      metric: this.slowDeliveryFunction.metricErrors({ statistic: 'Sum', period: Duration.seconds(300) }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });
    return alarms;
  }
}

/** Fills in the defaults and checks the values infra/template.yaml allows. */
export function resolveProps(props: HooklineProps): Required<HooklineProps> {
  const defined = Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined));
  const p: Required<HooklineProps> = { ...DEFAULTS, ...defined };
  const check = (ok: boolean, message: string) => {
    if (!ok) throw new Error(`Hookline: ${message}`);
  };
  const intIn = (v: number, min: number, max: number) => Number.isInteger(v) && v >= min && v <= max;
  check(['arm64', 'x86_64'].includes(p.architecture), `architecture must be arm64 or x86_64, not ${p.architecture}`);
  let attempts: number | undefined;
  if (!Token.isUnresolved(p.retrySchedule)) {
    const problem = retryScheduleProblem(p.retrySchedule);
    check(problem === undefined, `retrySchedule ${JSON.stringify(p.retrySchedule)}: ${problem}`);
    attempts = p.retrySchedule === '' ? 1 : p.retrySchedule.split(',').length + 1;
  }
  check(intIn(p.maxReceiveCount, 1, 1000), 'maxReceiveCount must be from 1 to 1000');
  if (attempts !== undefined) {
    check(
      p.maxReceiveCount >= attempts + 1,
      `maxReceiveCount ${p.maxReceiveCount} is below attempts + 1 = ${attempts + 1} (the retry schedule ` +
        `makes ${attempts} attempts; keep it at attempts + 3 = ${attempts + 3}): the delivery function would refuse to start`,
    );
  }
  check(intIn(p.circuitFailures, 1, 1000), 'circuitFailures must be from 1 to 1000');
  check(intIn(p.circuitDisableAfterSecs, 1, 2592000), 'circuitDisableAfterSecs must be from 1 to 2592000');
  const timeout = DELIVERY_TIMEOUT_MS;
  check(
    intIn(p.deliveryTimeoutMs, timeout.min, timeout.max),
    `deliveryTimeoutMs must be from ${timeout.min} to ${timeout.max}`,
  );
  check(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'].includes(p.logLevel), `unknown logLevel ${p.logLevel}`);
  check(
    Object.values(logs.RetentionDays).includes(p.logRetentionDays as logs.RetentionDays) &&
      p.logRetentionDays !== logs.RetentionDays.INFINITE,
    `logRetentionDays must be one CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, ...), not ${p.logRetentionDays}`,
  );
  check(intIn(p.retentionDays, 2, 3650), 'retentionDays must be from 2 to 3650');
  check(intIn(p.deliveryMaxConcurrency, 2, 1000), 'deliveryMaxConcurrency must be from 2 to 1000');
  check(intIn(p.slowLaneMaxConcurrency, 2, 1000), 'slowLaneMaxConcurrency must be from 2 to 1000');
  check(intIn(p.queueAgeAlarmSeconds, 60, 345600), 'queueAgeAlarmSeconds must be from 60 to 345600');
  check(
    ['on-demand', 'provisioned'].includes(p.tableCapacity),
    `tableCapacity must be on-demand or provisioned, not ${p.tableCapacity}`,
  );
  const { min, max } = TABLE_CAPACITY_RANGE;
  for (const key of ['tableMinWriteCapacity', 'tableMaxWriteCapacity', 'tableMinReadCapacity', 'tableMaxReadCapacity'] as const) {
    check(intIn(p[key], min, max), `${key} must be from ${min} to ${max}`);
  }
  check(p.tableMinWriteCapacity <= p.tableMaxWriteCapacity, 'tableMinWriteCapacity must not be above tableMaxWriteCapacity');
  check(p.tableMinReadCapacity <= p.tableMaxReadCapacity, 'tableMinReadCapacity must not be above tableMaxReadCapacity');
  if (!Token.isUnresolved(p.alertEmail)) {
    check(/^$|^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(p.alertEmail), `alertEmail must be an e-mail address or empty`);
  }
  return p;
}

/**
 * What is wrong with a retry schedule, undefined when nothing: the checks of the SAM template's
 * pattern, and the limits the functions enforce at start (at most 30 waits, none zero, each at
 * most 12 h, SQS's longest visibility timeout, adding up to at most 7 days).
 */
export function retryScheduleProblem(schedule: string): string | undefined {
  if (schedule === '') return undefined; // a single attempt
  const waits = schedule.split(',');
  if (waits.length > RETRY_LIMITS.waits) return `${waits.length} waits; at most ${RETRY_LIMITS.waits}`;
  let total = 0;
  for (const wait of waits) {
    const m = /^([0-9]+)(ms|s|m|h)$/.exec(wait);
    if (!m) return `"${wait}" is not a duration such as 500ms, 5s, 5m or 2h (units ms, s, m, h)`;
    if (Number(m[1]) === 0) return `wait "${wait}" is zero; each wait must be greater than zero`;
    if (!/^[1-9][0-9]{0,5}$/.test(m[1])) return `wait "${wait}": write each wait with 1 to 6 digits and no leading zero`;
    const ms = Number(m[1]) * UNIT_MS[m[2]];
    if (ms > RETRY_LIMITS.waitMs) return `wait "${wait}" is longer than 12h`;
    total += ms;
  }
  if (total > RETRY_LIMITS.totalMs) {
    return `the waits add up to ${(total / 3_600_000).toFixed(1)} h; at most 7 days (168 h)`;
  }
  // Everything above implies the pattern; checked too so the two can never disagree.
  if (!new RegExp(RETRY_SCHEDULE_PATTERN).test(schedule)) return `does not match ${RETRY_SCHEDULE_PATTERN}`;
  return undefined;
}

/** The architecture an ELF executable is built for; undefined when it is not one we know. */
function elfArchitecture(file: string): Architecture | undefined {
  const header = Buffer.alloc(20);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } finally {
    fs.closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = header.readUInt16LE(18);
  return machine === 0x3e ? 'x86_64' : machine === 0xb7 ? 'arm64' : undefined;
}
