// The deployable stack: one Hookline, its settings from CDK context (`-c architecture=x86_64
// -c retentionDays=14 ...`), the outputs and the logical ids of infra/template.yaml, so the two
// templates can be compared resource by resource.

import { CfnElement, CfnOutput, CfnParameter, Names, Stack, StackProps } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { Hookline, HooklineProps } from './hookline';

export interface HooklineStackProps extends StackProps {
  /** Settings; CDK context values of the same names override them. */
  readonly hookline?: HooklineProps;
}

export class HooklineStack extends Stack {
  readonly hookline: Hookline;

  constructor(scope: Construct, id: string, props: HooklineStackProps = {}) {
    super(scope, id, props);
    const settings = { ...props.hookline, ...definedOnly(settingsFromContext(this)) };
    // The one deploy-time parameter, as in infra/template.yaml: the subscription sits in the
    // template under the HasAlertEmail condition, and `cdk deploy --parameters AlertEmail=...`
    // changes the address without a new synth. The context value is its default.
    const alertEmail = new CfnParameter(this, 'AlertEmail', {
      type: 'String',
      default: settings.alertEmail ?? '',
      allowedPattern: '^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      constraintDescription: 'an e-mail address, or empty',
      description:
        'E-mail address subscribed to the alert topic (alarms and hookline.delivery.failed ' +
        'notifications); SNS sends a confirmation link first. Empty for no subscription.',
    });
    const hl = new Hookline(this, 'Hookline', { ...settings, alertEmail: alertEmail.valueAsString });
    this.hookline = hl;

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the Hookline API (try GET /healthz).',
      value: hl.httpStage.url,
    });
    new CfnOutput(this, 'AdminKeySecretArn', {
      description:
        'Secret holding the admin API key. Read it with ' +
        'aws secretsmanager get-secret-value --secret-id <this ARN> --query SecretString --output text',
      value: hl.adminKeySecret.secretArn,
    });
    new CfnOutput(this, 'AlertTopicArn', {
      description: 'SNS topic of the alarms and of hookline.delivery.failed notifications.',
      value: hl.alertTopic.topicArn,
    });
    new CfnOutput(this, 'DeliveryQueueUrl', { description: 'The delivery queue.', value: hl.queue.queueUrl });
    new CfnOutput(this, 'SlowDeliveryQueueUrl', {
      description: "The slow lane's delivery queue (jobs of failing or slow endpoints, and retries).",
      value: hl.slowQueue.queueUrl,
    });
    new CfnOutput(this, 'DeadLetterQueueUrl', {
      description: 'The dead-letter queue (inspect and redrive it, README Runbook).',
      value: hl.deadLetterQueue.queueUrl,
    });
    new CfnOutput(this, 'TableName', {
      description: 'The DynamoDB table (retained when the stack is deleted).',
      value: hl.table.tableName,
    });
  }

  /**
   * Logical ids without CDK's hash suffix: the construct path below the Hookline construct,
   * without the `Resource`/`Default` steps (`Hookline/FanoutFunction/Stream/Resource` becomes
   * `FanoutFunctionStream`). They are the ids infra/template.yaml uses (SAM names an event
   * source `<function><event>`), so a resource is called the same in both stacks. The invoke
   * permission aws-events-targets gives a rule's Lambda target (`AllowEventRule<function>`,
   * under the rule) is called `Permission`, as SAM calls it `<function><event>Permission`.
   */
  protected allocateLogicalId(element: CfnElement): string {
    const scopes = element.node.scopes;
    const steps = scopes
      .slice(scopes.indexOf(this) + 1)
      .map((c) => (c.node.id.startsWith('AllowEventRule') ? 'Permission' : c.node.id));
    const named = steps.filter((s, i) => !(i === 0 && s === 'Hookline') && s !== 'Resource' && s !== 'Default');
    const id = named.join('').replace(/[^A-Za-z0-9]/g, '');
    return id !== '' && id.length <= 255 ? id : Names.uniqueId(element);
  }
}

/** Reads the settings given as CDK context; values from the command line arrive as strings. */
export function settingsFromContext(scope: Construct): HooklineProps {
  const get = (key: string): unknown => scope.node.tryGetContext(key);
  const str = (key: string) => {
    const v = get(key);
    return v === undefined ? undefined : String(v);
  };
  const num = (key: string) => {
    const v = get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (v === '' || !Number.isFinite(n)) throw new Error(`context ${key} must be a number, not ${String(v)}`);
    return n;
  };
  const bool = (key: string) => {
    const v = get(key);
    if (v === undefined || typeof v === 'boolean') return v as boolean | undefined;
    if (v === 'true' || v === 'false') return v === 'true';
    throw new Error(`context ${key} must be true or false, not ${String(v)}`);
  };
  return {
    architecture: str('architecture') as HooklineProps['architecture'],
    retrySchedule: str('retrySchedule'),
    maxReceiveCount: num('maxReceiveCount'),
    deliveryTimeoutMs: num('deliveryTimeoutMs'),
    requireHttps: bool('requireHttps'),
    strictEventTypes: bool('strictEventTypes'),
    circuitFailures: num('circuitFailures'),
    circuitDisableAfterSecs: num('circuitDisableAfterSecs'),
    logLevel: str('logLevel') as HooklineProps['logLevel'],
    logRetentionDays: num('logRetentionDays'),
    retentionDays: num('retentionDays'),
    deliveryMaxConcurrency: num('deliveryMaxConcurrency'),
    slowLaneMaxConcurrency: num('slowLaneMaxConcurrency'),
    alertEmail: str('alertEmail'),
    queueAgeAlarmSeconds: num('queueAgeAlarmSeconds'),
    tableCapacity: str('tableCapacity') as HooklineProps['tableCapacity'],
    tableMinWriteCapacity: num('tableMinWriteCapacity'),
    tableMaxWriteCapacity: num('tableMaxWriteCapacity'),
    tableMinReadCapacity: num('tableMinReadCapacity'),
    tableMaxReadCapacity: num('tableMaxReadCapacity'),
    binariesDir: str('binariesDir'),
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
