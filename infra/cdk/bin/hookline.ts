#!/usr/bin/env node
// The CDK app: one Hookline stack, deployed as `hookline` unless `-c stackName=...` says otherwise.

import { App } from 'aws-cdk-lib';
import { HooklineStack } from '../lib/stack';

const app = new App();
new HooklineStack(app, 'HooklineStack', {
  stackName: app.node.tryGetContext('stackName') ?? 'hookline',
  description: 'Hookline: webhook delivery on Lambda, DynamoDB and SQS',
  analyticsReporting: false,
});
