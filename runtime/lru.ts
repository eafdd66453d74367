// A size-capped map with least-recently-used eviction (a Map keeps insertion order: a hit is moved
// to the end, the first key is the oldest). For caches that would otherwise grow with traffic.
export class Lru<K, V> {
  readonly #map = new Map<K, V>();
  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`Lru: max must be a positive integer, got ${max}`);
  }
  get size(): number {
    return this.#map.size;
  }
  has(k: K): boolean {
    return this.#map.has(k);
  }
  /** The value, marked as just used. */
  get(k: K): V | undefined {
    const v = this.#map.get(k);
    if (v === undefined) return undefined;
    this.#map.delete(k);
    this.#map.set(k, v);
    return v;
  }
  set(k: K, v: V): this {
    this.#map.delete(k);
    this.#map.set(k, v);
    while (this.#map.size > this.max) {
      const oldest = this.#map.keys().next().value as K;
      this.#map.delete(oldest);
    }
    return this;
  }
  delete(k: K): boolean {
    return this.#map.delete(k);
  }
  keys(): IterableIterator<K> {
    return this.#map.keys();
  }
}
