// The only door to NATS.
export { connectNats, MIN_SERVER_VERSION, ServerVersionError, versionAtLeast, type NatsConnection } from './connect.ts';
export { declareTopology, buckets, bucketStream, bucketSubject, objectStores, durables, streamConfigs, consumerConfigs, type TopologyOptions } from './topology.ts';
export { appendCommit, StreamConflictError, isTransient, type Append, type Appended } from './append.ts';
export { runBatchConsumer, runConsumer, type Outcome, type ConsumerLoop } from './consumer.ts';
