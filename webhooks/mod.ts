export { createFanout, endpointsOf, subscribed, tasksFor, deliveryId, type Endpoint } from './fanout.ts';
export { createDelivery, maxTries, nextDelay, type DeliveryOptions } from './delivery.ts';
export { signatureHeader } from './signer.ts';
export type { DeliveryTask, DeliveryReceipt, DeadLetter } from './types.ts';
