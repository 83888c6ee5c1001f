// A memo of bounded size for values that are pure functions of their keys, such as the CPU set of
// a CPU-list key. A short-lived cmk reads the same few keys in each of its state transactions and
// finds them here; a long-running process that meets ever new keys (a server reading many
// documents) never holds more than `capacity` of them. When full it starts afresh: a hit costs one
// Map lookup and no bookkeeping, which matters on the launch path of every workload, and a
// working set below the capacity is recomputed at most once per overflow.
export class BoundedCache<K, V> {
  readonly capacity: number;
  private readonly entries = new Map<K, V>();

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`a cache needs a capacity of at least 1, not ${capacity}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    return this.entries.get(key);
  }

  set(key: K, value: V): void {
    if (this.entries.size >= this.capacity && !this.entries.has(key)) this.entries.clear();
    this.entries.set(key, value);
  }
}
