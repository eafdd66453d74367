// Names unique per merchant and mode (a price's lookup_key, an active promotion code's code), claimed
// in pay_index by compare-and-set before the object that takes the name is written. A name held by an
// object that still has it is `held` (refused, or taken from it first); one held by this very object
// (a retried request) or by nothing live is taken.
import { ApiError } from '../stripe/errors.ts';
import type { CatalogueIndex, UniqueEntry, UniqueKind } from './pay-index.ts';

export async function claimUniqueName(
  index: CatalogueIndex,
  kind: UniqueKind,
  merchantId: string,
  livemode: boolean,
  name: string,
  mine: UniqueEntry,
  o: {
    /** Whether the entry's object still has the name (else the entry is stale). */
    stillHolds: (entry: UniqueEntry) => Promise<boolean>;
    /** The name is another live object's: throw to refuse, or take it from that object and return. */
    held: (entry: UniqueEntry) => Promise<void>;
    param: string;
  },
): Promise<void> {
  for (let tries = 0; tries < 3; tries++) {
    const { entry, revision } = await index.readName(kind, merchantId, livemode, name);
    if (entry?.id === mine.id) return;
    if (entry && (await o.stillHolds(entry))) await o.held(entry);
    if (await index.claimName(kind, merchantId, livemode, name, mine, revision)) return;
  }
  throw new ApiError(409, 'invalid_request_error', 'lock_timeout', `Another request changed this ${o.param} at the same time. Retry the request.`, o.param);
}
